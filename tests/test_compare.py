"""Candidate vs published: per-class changes on the same photos, and when publishing needs an override."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from species_data.dataset import split_of
from train.bundle import Bundle, BundleMeta, Thresholds
from train.compare import RegressionKind, compare, format_table
from train.embeddings import EmbeddingCache
from train.head import softmax
from train.bundle_meta import DecisionShares, Metrics, OodReport, Training
from train.config import TrainingMode
from train.metrics import evaluate_probs, reliability_bins
from train.preprocess import Preprocessing

ARCH = "tf_efficientnet_lite0"
D = 4


def _sha(i: int, want_split: str = "test") -> str:
    """A content-hash-like id whose hash split is `want_split` (the compared split)."""
    k = 0
    while True:
        sha = f"{i:08x}{k:056x}"
        if split_of(sha).value == want_split:
            return sha
        k += 1


def _world(tmp_path: Path):
    """Test photos of classes a, b, c (+ d, new) with 4-d features = one-hot-ish directions."""
    rng = np.random.default_rng(0)
    cache = EmbeddingCache.for_backbone(tmp_path / "data", ARCH)
    rows = []
    for c, label in enumerate("abcd"):
        for j in range(10):
            sha = _sha(100 * c + j)
            vec = np.eye(D)[c] * 3 + rng.normal(0, 0.3, D)
            cache.put(sha, vec.astype(np.float32))
            rows.append({"sha256": sha, "label": label, "split": "test", "path": f"/x/{sha}.jpg", "source": ""})
    return rows, cache


def _bundle(path: Path, labels, weight, rows, cache) -> Bundle:
    """A bundle folder with just what `compare` reads: meta, head weights, manifest."""
    weight = np.asarray(weight, np.float32)
    bias = np.zeros(len(labels), np.float32)
    path.mkdir(parents=True)
    torch.save({"head.weight": torch.from_numpy(weight), "head.bias": torch.from_numpy(bias)}, path / "weights.pt")
    mine = [r for r in rows if r["label"] in labels]
    (path / "manifest.json").write_text(json.dumps(mine))
    feats = np.stack([cache.get(r["sha256"]) for r in mine])
    y = np.array([labels.index(r["label"]) for r in mine])
    probs = softmax(feats @ weight.T + bias)
    measured = evaluate_probs(probs, y, labels, 0.5)
    metrics = Metrics(val=measured, test=measured, decisions_test=DecisionShares(1.0, 0.0, 0.0, len(y)),
                      ood=OodReport("msp"), reliability_test=reliability_bins(probs, y))
    meta = BundleMeta(version=path.name, arch=ARCH, labels=list(labels), preprocessing=Preprocessing(),
                      temperature=1.0, thresholds=Thresholds(0.5, 0.9, 1.0), ood_method="msp",
                      groups={l: l for l in labels}, catalogue_version="x", metrics=metrics,
                      training=Training(TrainingMode.HEAD, 0.0), data_manifest="m", counts={})
    (path / "bundle.json").write_text(json.dumps(meta.to_dict()))
    return Bundle.load(path)


@pytest.fixture
def world(tmp_path):
    rows, cache = _world(tmp_path)
    published = _bundle(tmp_path / "models" / "v1", ["a", "b", "c"], np.eye(3, D) * 2, rows, cache)
    return tmp_path, rows, cache, published


def test_a_better_candidate_with_a_new_class_needs_no_override(world):
    tmp_path, rows, cache, published = world
    candidate = _bundle(tmp_path / "models" / "v2", ["a", "b", "c", "d"], np.eye(4, D) * 2, rows, cache)
    c = compare(candidate, published, tmp_path / "data")
    assert c.same_photos and not c.needs_override and c.regressions == ()
    by = {ch.label: ch for ch in c.classes}
    assert by["d"].is_new and by["d"].before is None and by["d"].after == 1.0 and by["d"].n == 10
    assert by["a"].before == by["a"].after == 1.0 and by["a"].delta == 0.0 and not by["a"].worse
    assert c.top1_before == c.top1_after == 1.0 and c.n_common == 30 and c.n_all == 40
    assert c.new_classes == ("d",) and c.labels == ("a", "b", "c", "d")
    assert np.asarray(c.confusion).shape == (4, 4)
    assert "d" in format_table(c)


def test_a_class_getting_worse_needs_an_override(world):
    tmp_path, rows, cache, published = world
    w = np.eye(4, D) * 2
    w[1] = np.eye(D)[0] * 1.9  # b now looks like a: b's photos go to a (or d)
    candidate = _bundle(tmp_path / "models" / "v2", ["a", "b", "c", "d"], w, rows, cache)
    c = compare(candidate, published, tmp_path / "data")
    assert c.needs_override
    kinds = {(r.kind, r.label) for r in c.regressions}
    assert (RegressionKind.CLASS_RECALL, "b") in kinds and (RegressionKind.OVERALL_TOP1, None) in kinds
    by = {ch.label: ch for ch in c.classes}
    assert by["b"].worse and by["b"].before == 1.0 and by["b"].after < 0.5
    assert not by["a"].worse
    assert c.top1_after < c.top1_before
    loose = compare(candidate, published, tmp_path / "data", tolerance=1.0)
    assert not loose.needs_override
    as_json = json.loads(json.dumps(c.to_dict()))
    assert as_json["needs_override"] and as_json["regressions"][0]["kind"] == "overall_top1"


def test_dropping_a_class_needs_an_override(world):
    tmp_path, rows, cache, published = world
    candidate = _bundle(tmp_path / "models" / "v2", ["a", "b"], np.eye(2, D) * 2, rows, cache)
    c = compare(candidate, published, tmp_path / "data")
    assert (RegressionKind.CLASS_DROPPED, "c") in {(r.kind, r.label) for r in c.regressions}


def test_without_cached_features_it_falls_back_to_stored_metrics(world):
    tmp_path, rows, cache, published = world
    w = np.eye(4, D) * 2
    w[1] = np.eye(D)[0] * 1.9
    candidate = _bundle(tmp_path / "models" / "v2", ["a", "b", "c", "d"], w, rows, cache)
    c = compare(candidate, published, tmp_path / "elsewhere")  # no embedding cache there
    assert not c.same_photos and c.needs_override
    assert {ch.label: ch.worse for ch in c.classes}["b"]


def test_a_typo_in_the_split_is_refused(world):
    tmp_path, _, _, published = world
    with pytest.raises(ValueError):
        compare(published, published, tmp_path / "data", split="tset")


def test_a_class_nobody_measured_is_never_called_unchanged(world):
    """Class c loses its test photos and d has three: the verdict names both instead of
    saying that no class got worse."""
    tmp_path, rows, cache, published = world
    kept = [r for r in rows if r["label"] != "c" and not (r["label"] == "d" and int(r["sha256"][:8], 16) % 100 > 2)]
    candidate = _bundle(tmp_path / "models" / "v2", ["a", "b", "c", "d"], np.eye(4, D) * 2, kept, cache)
    c = compare(candidate, published, tmp_path / "data")
    by = {ch.label: ch for ch in c.classes}
    assert not by["c"].measured and by["c"].n == 0 and not by["c"].worse
    assert by["d"].n == 3 and by["d"].thin and by["a"].measured and not by["a"].thin
    assert c.unmeasured == ("c",) and c.thin == ("d",) and not c.needs_override
    text = format_table(c)
    assert "not measured (no test photo): c" in text and "too few to tell: d" in text
    assert json.loads(json.dumps(c.to_dict()))["unmeasured"] == ["c"]
    from serve.i18n import t, tn
    from serve.ui.trainer_views import comparison_html

    from html import escape

    for lang in ("en", "fr"):
        page = comparison_html(c, lang)
        assert escape(t("trainer.compare.ok", lang)) not in page
        assert escape(t("trainer.compare.ok_but_new", lang)) in page
        assert escape(t("trainer.compare.unmeasured", lang, label="c", needed=c.min_photos)) in page
        assert escape(tn("trainer.compare.thin", 3, lang, label="d", needed=c.min_photos)) in page


def test_a_new_class_shows_its_k_fold_recall(world):
    tmp_path, rows, cache, published = world
    candidate = _bundle(tmp_path / "models" / "v2", ["a", "b", "c", "d"], np.eye(4, D) * 2, rows, cache)
    meta = json.loads((candidate.path / "bundle.json").read_text())
    kfold = {"label": "d", "photos": 14, "hits": 12, "folds": 5, "recall": 12 / 14, "low": 0.6, "high": 0.96}
    meta["metrics"]["new_classes"] = {"d": {"train": 10, "val": 1, "test": 3, "heldout_n": 4,
                                            "heldout_recall": 0.75, "kfold": kfold}}
    (candidate.path / "bundle.json").write_text(json.dumps(meta))
    c = compare(Bundle.load(candidate.path), published, tmp_path / "data")
    d = {ch.label: ch for ch in c.classes}["d"]
    assert d.kfold is not None and d.kfold.hits == 12 and d.measured and not d.thin
    assert "k-fold over its 14 photos: 85.7%" in format_table(c)
