"""Quick update: a new class from ~20 photos, only new photos embedded, old split frozen."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from species_data.dataset import Photo, Split, split_of
from train.bundle import Bundle
from train.config import TrainingMode
from train.quick_update import (QuickUpdateConfig, merge_photos, next_version, photos_from_manifest, quick_update,
                                warm_start)
from tests.trainer_world import BASE_CLASSES, NEW_CLASS, build_world, fresh_world, npy_count


# --- pure pieces -------------------------------------------------------------------------

def _photo(label: str, sha: str) -> Photo:
    return Photo(Path(f"/x/{sha}.jpg"), label, sha, split_of(sha))


def test_merge_adds_removes_and_relabels_without_moving_splits():
    base = [_photo("a", "1" * 64), _photo("a", "2" * 64), _photo("b", "3" * 64)]
    add = [_photo("c", "4" * 64), _photo("b", "2" * 64), _photo("a", "1" * 64), _photo("c", "3" * 64)]
    merged = merge_photos(base, add, remove=["3" * 64])
    by_sha = {p.sha256: p for p in merged.photos}
    assert (merged.added, merged.removed, merged.relabelled) == (1, 1, 1)
    assert set(by_sha) == {"1" * 64, "2" * 64, "4" * 64}
    assert by_sha["2" * 64].label == "b" and by_sha["2" * 64].split is base[1].split
    assert by_sha["1" * 64] == base[0]


def test_next_version_counts_past_the_highest(tmp_path):
    assert next_version(tmp_path / "missing") == "v1"
    for name in ("v1", "v3", ".v7-abc", "current", "trial"):
        (tmp_path / name).mkdir()
    assert next_version(tmp_path) == "v8"


def test_warm_start_reproduces_the_base_logits_in_standardised_space():
    import torch

    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (50, 6)).astype(np.float32)
    state = {"head.weight": torch.from_numpy(rng.normal(size=(2, 6)).astype(np.float32)),
             "head.bias": torch.from_numpy(rng.normal(size=2).astype(np.float32))}
    w, b = warm_start(state, ["a", "b"], ["a", "b", "new"], x)
    mean, std = x.mean(0), x.std(0) + 1e-6
    got = ((x - mean) / std) @ w.T + b
    want = x @ state["head.weight"].numpy().T + state["head.bias"].numpy()
    np.testing.assert_allclose(got[:, :2], want, rtol=1e-4, atol=1e-4)
    assert np.all(got[:, 2] == 0)  # the new class starts from nothing


# --- on real photos ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def updated(tmp_path_factory):
    world = fresh_world(tmp_path_factory.mktemp("qu"), build_world(tmp_path_factory))
    before = npy_count(world.data_dir)
    result = quick_update(QuickUpdateConfig(base=world.models / "v1", out=world.models / "v2",
                                            add=world.new_photos, data_dir=world.data_dir, plots="now"))
    return world, before, result


@pytest.mark.model
def test_new_class_is_recognised_on_its_held_out_photos(updated):
    world, _, result = updated
    meta = result.bundle.meta
    assert meta.labels == [*BASE_CLASSES, NEW_CLASS] and result.new_classes == (NEW_CLASS,)
    assert meta.parent == "v1" and meta.training.mode is TrainingMode.QUICK_UPDATE
    report = meta.metrics.new_classes[NEW_CLASS]
    assert report.heldout_n >= 4
    assert report.heldout_recall > 1 / len(meta.labels)  # above chance (0.25)
    # fewer than 10 test photos: every photo of the class tested once by k-fold CV
    assert report.test < 10 and report.kfold.photos == len(world.new_photos)
    assert report.kfold.low <= report.kfold.recall <= report.kfold.high
    assert report.kfold.recall > 1 / len(meta.labels)
    # the same through the served path: the patched ONNX export on the held-out photos
    from train.preprocess import load_input
    from train.runtime import ModelRunner

    held = [p for p in world.new_photos if p.split is not Split.TRAIN]
    batch = np.stack([load_input(p.path, meta.preprocessing)[0] for p in held])
    onnx = ModelRunner(result.bundle, "onnx").run(batch)
    torch_out = ModelRunner(result.bundle, "torch").run(batch)
    np.testing.assert_allclose(onnx.logits, torch_out.logits, rtol=1e-3, atol=1e-3)
    recall = np.mean(onnx.logits.argmax(1) == meta.labels.index(NEW_CLASS))
    assert recall > 1 / len(meta.labels)


@pytest.mark.model
def test_only_the_new_photos_are_embedded(updated):
    world, before, result = updated
    assert result.embedded_new == len(world.new_photos)
    assert npy_count(world.data_dir) - before == len(world.new_photos)
    again = quick_update(QuickUpdateConfig(base=result.bundle.path, out=world.models / "v3",
                                           remove=[world.new_photos[0].sha256], data_dir=world.data_dir,
                                           plots="none"))
    assert again.embedded_new == 0 and again.removed == 1
    assert world.new_photos[0].sha256 not in {r["sha256"] for r in again.bundle.manifest()}
    assert again.bundle.meta.parent == "v2"


@pytest.mark.model
def test_old_photos_keep_their_label_and_split(updated):
    world, _, result = updated
    old = {r["sha256"]: (r["label"], r["split"]) for r in Bundle.load(world.models / "v1").manifest()}
    new = {r["sha256"]: (r["label"], r["split"]) for r in result.bundle.manifest()}
    assert {sha: new[sha] for sha in old} == old
    added = set(new) - set(old)
    assert added == {p.sha256 for p in world.new_photos}
    assert all(new[sha][1] == split_of(sha).value for sha in added)
    # the bundle is complete: weights, ONNX, references, manifest, plots
    for name in ("bundle.json", "weights.safetensors", "model.onnx", "ood.npz", "manifest.json", "confusion_test.png"):
        assert (result.bundle.path / name).is_file(), name


@pytest.mark.model
def test_a_class_without_training_photos_is_refused(tmp_path, tmp_path_factory):
    world = fresh_world(tmp_path, build_world(tmp_path_factory))
    held_only = [p for p in world.new_photos if p.split is not Split.TRAIN]
    with pytest.raises(ValueError, match=NEW_CLASS):
        quick_update(QuickUpdateConfig(base=world.models / "v1", out=world.models / "v2", add=held_only,
                                       data_dir=world.data_dir, plots="none"))
    assert not (world.models / "v2").exists()


def test_photos_from_manifest_round_trip():
    rows = [{"sha256": "a" * 64, "label": "x", "split": "val", "path": "/p/a.jpg", "source": "s"}]
    (p,) = photos_from_manifest(rows)
    assert (p.label, p.split, p.source, str(p.path)) == ("x", Split.VAL, "s", "/p/a.jpg")
