"""A small real training run on real photos: learns, round-trips, reports, and documents itself."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from species_data.dataset import Split, scan
from train.bundle import Bundle, list_versions, publish, current
from train.card import render
from train.config import TrainingConfig
from train.fit import fit
from train.head import softmax
from train.preprocess import load_input
from train.runtime import ModelRunner

pytestmark = pytest.mark.model

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "photos"
CLASSES = ["elephant", "rhinoceros", "seahorse", "small_wild_cat"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    if not PHOTOS.is_dir():
        pytest.skip("../shared/photos is not here")
    root = tmp_path_factory.mktemp("fit")
    cfg = TrainingConfig(data=[PHOTOS], out=root / "models" / "small", data_dir=root / "data", classes=CLASSES,
                         card_dir=root / "cards", progress=False)
    return cfg, fit(cfg)


def test_learns_well_above_chance(trained):
    _, bundle = trained
    test = bundle.meta.metrics.test
    assert test.n >= 20
    assert test.top1 > 0.7  # chance is 0.25
    assert bundle.meta.labels == CLASSES
    assert 0.05 < bundle.meta.temperature < 20


def test_bundle_is_self_describing_and_round_trips(trained):
    cfg, bundle = trained
    reloaded = Bundle.load(cfg.out)
    meta = reloaded.meta
    assert meta.arch == "tf_efficientnet_lite0" and meta.preprocessing.input_size == 224
    assert set(meta.groups) == set(CLASSES) and meta.catalogue_version
    assert len(meta.metrics.val.confusion) == len(CLASSES)
    assert meta.data_manifest == scan([PHOTOS], CLASSES).manifest_hash()
    photos = [p for p in scan([PHOTOS], CLASSES).photos if p.split is Split.TEST][:6]
    batch = np.stack([load_input(p.path, meta.preprocessing)[0] for p in photos])
    torch_out = ModelRunner(reloaded, "torch").run(batch)
    onnx_out = ModelRunner(reloaded, "onnx").run(batch)
    again = ModelRunner(Bundle.load(cfg.out), "torch").run(batch)
    np.testing.assert_array_equal(torch_out.logits, again.logits)  # same weights, same numbers
    np.testing.assert_allclose(softmax(onnx_out.logits, meta.temperature), softmax(torch_out.logits, meta.temperature),
                               rtol=1e-4, atol=1e-5)
    manifest = reloaded.manifest()
    assert {row["sha256"] for row in manifest} == {p.sha256 for p in scan([PHOTOS], CLASSES).photos}


def test_rerun_embeds_only_new_photos(trained, tmp_path):
    cfg, _ = trained
    cache_files = sorted((cfg.data_dir / "embeddings").rglob("*.npy"))
    assert len(cache_files) == len(scan([PHOTOS], CLASSES).photos)
    again = fit(TrainingConfig(data=[PHOTOS], out=tmp_path / "again", data_dir=cfg.data_dir, classes=CLASSES,
                          card_dir=None, progress=False))
    assert again.meta.training.embedded_new == 0
    assert again.meta.metrics.test.top1 == pytest.approx(Bundle.load(cfg.out).meta.metrics.test.top1)


def test_refit_from_cache_builds_no_network_and_its_export_matches_torch(trained, tmp_path):
    """Every photo embedded and the backbone stored: the re-fit imports neither torch nor
    timm, and the ONNX file it patched gives the same logits as the torch network."""
    import subprocess
    import sys

    cfg, _ = trained
    out = tmp_path / "refit"
    code = ("import sys; from pathlib import Path; from train.config import TrainingConfig; from train.fit import fit; "
            f"fit(TrainingConfig(data=[Path({str(PHOTOS)!r})], out=Path({str(out)!r}), data_dir=Path({str(cfg.data_dir)!r}), "
            f"classes={CLASSES!r}, card_dir=None, progress=False)); "
            "print(sorted(m for m in ('torch', 'timm') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"
    bundle = Bundle.load(out)
    photos = [p for p in scan([PHOTOS], CLASSES).photos if p.split is Split.TEST][:4]
    batch = np.stack([load_input(p.path, bundle.meta.preprocessing)[0] for p in photos])
    np.testing.assert_allclose(ModelRunner(bundle, "onnx").run(batch).logits,
                               ModelRunner(bundle, "torch").run(batch).logits, rtol=1e-4, atol=1e-4)


def test_head_mode_at_another_size_and_crop_keeps_its_own_cache(trained, tmp_path):
    """--input-size / --crop-pct: the bundle carries them, serving's export takes that size,
    and its features never mix with the default preprocessing's cache."""
    from train.embeddings import EmbeddingCache

    cfg, _ = trained
    classes = CLASSES[:2]
    bundle = fit(TrainingConfig(data=[PHOTOS], out=tmp_path / "full-view", data_dir=cfg.data_dir, classes=classes,
                           card_dir=None, progress=False, input_size=160, crop_pct=1.0))
    pre = bundle.meta.preprocessing
    assert (pre.input_size, pre.crop_pct) == (160, 1.0)
    default = EmbeddingCache.for_backbone(cfg.data_dir, "tf_efficientnet_lite0")
    mine = EmbeddingCache.for_backbone(cfg.data_dir, "tf_efficientnet_lite0", pre)
    assert mine.root != default.root and "160-crop1" in mine.root.name
    photo = next(p for p in scan([PHOTOS], classes).photos if p.split is Split.TEST)
    x = load_input(photo.path, pre)[0][None]
    assert x.shape == (1, 3, 160, 160)
    out = ModelRunner(bundle, "onnx").run(x)
    np.testing.assert_allclose(out.features[0], mine.get(photo.sha256), rtol=1e-4, atol=1e-4)
    assert not np.allclose(default.get(photo.sha256)[:16], mine.get(photo.sha256)[:16])


def test_card_carries_the_bundle_numbers(trained):
    cfg, bundle = trained
    card = (cfg.card_dir / "small.md").read_text()
    assert card == render(bundle, cfg.card_dir)
    assert (bundle.path / "card.md").read_text() == render(bundle)  # a bundle holds its own card
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", card)
    assert links and all((cfg.card_dir / link).is_file() for link in links)  # plots are where the links say
    front = card.split("---")[1]
    assert "pipeline_tag: image-classification" in front and "base_model: timm/tf_efficientnet_lite0.in1k" in front
    test = bundle.meta.metrics.test
    assert f"{100 * test.top1:.1f} %" in card
    assert f"{round(test.top1, 4)}" in front
    for section in ("## Intended use", "## Out-of-scope uses", "## Factors", "## Metrics",
                    "## Training and evaluation data", "## Caveats and recommendations"):
        assert section in card
    for label in CLASSES:
        assert f"| {label} |" in card
    assert "never a legal determination" in card


def test_evaluate_writes_a_report_through_the_serving_path(trained, tmp_path):
    from train.cli import main

    cfg, bundle = trained
    out = tmp_path / "report"
    assert main(["evaluate", "--model", str(cfg.out), "--data", str(PHOTOS), "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["top1"] == pytest.approx(bundle.meta.metrics.test.top1, abs=1e-6)
    assert set(report["unknown_labels"]) >= {"tiger", "lion"}  # classes the model does not know are named
    for name in ("report.md", "confusion_test.png", "reliability_test.png"):
        assert (out / name).stat().st_size > 0


def test_publish_switches_current_atomically(trained, tmp_path):
    cfg, _ = trained
    models = cfg.out.parent
    publish(models, "small")
    assert current(models).meta.version == "small"
    assert [m.version for m in list_versions(models)] == ["small"]
    with pytest.raises(FileNotFoundError):
        publish(models, "missing")
    assert current(models).meta.version == "small"


def test_a_truncated_cache_file_is_dropped_and_recomputed(tmp_path):
    from train.embeddings import EmbeddingCache

    cache = EmbeddingCache(tmp_path)
    sha = "ab" * 32
    cache.put(sha, np.arange(4, dtype=np.float32))
    assert EmbeddingCache(tmp_path).get(sha).tolist() == [0, 1, 2, 3]
    cache.path(sha).write_bytes(b"\x93NUMPY")  # cut short, as after a power loss
    assert EmbeddingCache(tmp_path).get(sha) is None
    assert not cache.path(sha).exists()


def test_a_cache_from_before_the_key_named_the_crop_is_adopted_once(tmp_path):
    from dataclasses import replace

    from train.backbone import spec, weights_digest
    from train.embeddings import EmbeddingCache

    arch = "tf_efficientnet_lite0"
    legacy = EmbeddingCache(tmp_path / "embeddings" / f"{arch}-{weights_digest(arch)}-224")
    sha = "cd" * 32
    legacy.put(sha, np.ones(3, np.float32))
    other = EmbeddingCache.for_backbone(tmp_path, arch, replace(spec(arch).preprocessing, crop_pct=1.0))
    assert other.get(sha) is None and legacy.root.is_dir()  # made with another crop: not adopted
    adopted = EmbeddingCache.for_backbone(tmp_path, arch)
    assert adopted.get(sha).tolist() == [1, 1, 1] and not legacy.root.exists()


def test_the_published_head_learns_from_every_photo_and_reports_out_of_fold(trained):
    """Issue 16 item 2: fitted on all photos; calibration and every number out of fold."""
    from train.every_photo import load_oof

    cfg, bundle = trained
    meta = bundle.meta
    photos = scan([PHOTOS], CLASSES).photos
    assert meta.training.all_photos and meta.training.folds == 5 and cfg.all_photos
    oof = load_oof(bundle.path)
    assert set(oof.index) == {p.sha256 for p in photos}  # every photo has an out-of-fold answer
    cv = meta.metrics.cv
    assert cv.metrics.n == len(photos) and cv.metrics.top1 > 0.7
    assert cv.decisions.n == len(photos) and cv.group_precision.n >= 0
    # the test row is the out-of-fold answers for the test photos, not the in-sample head
    test = [p for p in photos if p.split is Split.TEST]
    y = np.array([CLASSES.index(p.label) for p in test])
    oof_top1 = np.mean(oof.logits[oof.rows([p.sha256 for p in test])].argmax(1) == y)
    assert meta.metrics.test.top1 == pytest.approx(oof_top1)
    assert "Learns from every photo" in render(bundle)


def test_fitting_from_the_command_line_changes_no_tracked_file(trained, tmp_path, monkeypatch):
    """`python -m train fit` writes its card beside the bundle; model_cards/ only on publish --card-dir."""
    import subprocess

    from train.cli import main

    cfg, _ = trained
    root = Path(__file__).resolve().parents[1]
    status = lambda: subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "model_cards"],  # noqa: E731
                                    cwd=root, capture_output=True, text=True).stdout
    before = status()
    monkeypatch.chdir(root)  # where `make test` runs it
    assert main(["fit", "--data", str(PHOTOS), "--out", str(tmp_path / "models" / "v9"), "--data-dir",
                 str(cfg.data_dir), "--classes", *CLASSES, "--no-progress"]) == 0
    assert main(["publish", "--models", str(tmp_path / "models"), "v9"]) == 0
    assert (tmp_path / "models" / "v9" / "card.md").is_file()
    assert status() == before and not (root / "model_cards" / "v9.md").exists()
