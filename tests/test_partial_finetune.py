"""The cached partial fine-tune (train.stages, train.partial_finetune) on a small real subset."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.model

ARCH = "tf_efficientnet_lite0"
CLASSES = ["elephant", "ivory_carving", "porcelain_ware"]


def _rel(got, want) -> float:
    return float(np.max(np.abs(np.asarray(got) - np.asarray(want))) / (np.max(np.abs(np.asarray(want))) + 1e-12))


@pytest.fixture(scope="module")
def subset(photos_root, tmp_path_factory):
    """Twelve photos per class, their served view and one augmented view cached in a temp data folder."""
    from species_data.dataset import scan
    from train.backbone import spec
    from train.stages import cache_views
    from train.views import View, augmented_views

    photo_set = scan([photos_root], CLASSES)
    photos = [p for label in CLASSES for p in [q for q in photo_set.photos if q.label == label][:12]]
    data_dir = tmp_path_factory.mktemp("data")
    pre = spec(ARCH).preprocessing
    views = (View(),) + augmented_views(1)
    vs = cache_views(photos, views, ARCH, pre, data_dir, progress=False)
    y = np.array([CLASSES.index(p.label) for p in vs.photos])
    return vs, y, pre, data_dir, views


def test_cached_activations_equal_a_direct_forward(subset):
    import torch

    from train.model import SpeciesClassifier
    from train.preprocess import load_input
    from train.stages import activation_cache, cache_views, split_backbone
    from train.views import augmented

    vs, _, pre, data_dir, views = subset
    network = SpeciesClassifier.from_installed_weights(ARCH, 1).eval()
    lower, upper = split_backbone(network.backbone)
    photos = vs.photos[:4]
    served = torch.from_numpy(np.stack([load_input(p.path, pre)[0] for p in photos]))
    aug = torch.from_numpy(np.stack([augmented(p, pre, 0) for p in photos]))
    with torch.no_grad():
        for k, x in enumerate((served, aug)):
            assert _rel(vs.activations[k][:4], lower(x)) < 1e-5
            assert _rel(vs.features[k][:4], network.backbone(x)) < 1e-5
            assert _rel(upper(torch.from_numpy(vs.activations[k][:4])), network.backbone(x)) < 1e-5
    # read back from the cache files (a new cache object, nothing in memory)
    again = cache_views(photos, views, ARCH, pre, data_dir, progress=False)
    assert np.array_equal(again.activations[1], vs.activations[1][:4])
    assert activation_cache(data_dir, ARCH, pre, views[1]).path(photos[0].sha256).exists()


def test_partial_fine_tune_trains_the_top_and_exports_what_torch_computes(subset, tmp_path):
    import onnxruntime as ort
    import torch

    from train.export import export_onnx
    from train.partial_finetune import PartialModel, PartialRecipe, train_top
    from train.preprocess import load_input

    vs, y, pre, _, _ = subset
    model = PartialModel(ARCH, len(CLASSES))
    idx = np.arange(len(y))
    train_idx, val_idx = idx[idx % 4 != 0], idx[idx % 4 == 0]
    seen = []
    recipe = PartialRecipe(epochs=2, batch_size=8, lr_backbone=1e-3, lr_head=1e-3)
    fit = train_top(model, vs.activations, vs.features, y, train_idx, val_idx, recipe,
                    progress=lambda stage, done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] == 2 * (len(train_idx) // 8)
    assert [h["epoch"] for h in fit.history] == [0, 1, 2]
    best = min(fit.history, key=lambda h: h["val_nll_t"])
    assert fit.epoch == best["epoch"] and np.isfinite(best["val_nll_t"])
    before = model.initial["upper.conv_head.weight"]
    if fit.epoch:  # the kept state is a trained one: the top moved
        assert not torch.equal(model.state()["upper.conv_head.weight"], before)
    # the network put back together computes from pixels what the cached path computes
    x = np.stack([load_input(p.path, pre)[0] for p in vs.photos[:3]])
    with torch.no_grad():
        logits, feats, _ = (t.numpy() for t in model.network.eval().forward_all(torch.from_numpy(x)))
    cached = model.features(vs.activations[0][:3])
    assert _rel(cached, feats) < 1e-5
    assert _rel(model.logits(cached), logits) < 1e-4
    path = export_onnx(model.network, pre.input_size, tmp_path / "model.onnx")  # raises above 1e-4 of torch
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert _rel(session.run(None, {"input": x})[0], logits) < 1e-4


def test_probe_start_matches_a_probe_on_every_view(subset):
    from train.partial_finetune import PartialModel, PartialRecipe, train_top

    vs, y, _, _, _ = subset
    model = PartialModel(ARCH, len(CLASSES))
    idx = np.arange(len(y))
    recipe = PartialRecipe(epochs=0)
    fit = train_top(model, vs.activations, vs.features, y, idx[idx % 3 != 0], idx[idx % 3 == 0], recipe)
    probe = recipe.probe.fit(np.concatenate([f[idx % 3 != 0] for f in vs.features]),
                             np.tile(y[idx % 3 != 0], 2), len(CLASSES))
    assert fit.epoch == 0 and len(fit.history) == 1
    assert np.allclose(model.network.head.weight.detach().numpy(), probe.weight, atol=1e-6)
    # started from another fold's probe, the (convex) probe fit ends at the same head
    other = train_top(model, vs.activations, vs.features, y, idx[idx % 3 != 1], idx[idx % 3 == 1], recipe)
    train_top(model, vs.activations, vs.features, y, idx[idx % 3 != 0], idx[idx % 3 == 0], recipe,
              probe_start=other.probe)
    x = vs.features[0]
    cold = x @ probe.weight.T + probe.bias
    warm = model.logits(x)
    assert np.array_equal(cold.argmax(1), warm.argmax(1))
    assert np.max(np.abs(cold - warm)) < 0.03 * np.ptp(cold)  # within the fit's tolerance


def test_the_partial_fit_writes_a_judged_out_of_fold_bundle(photos_root, tmp_path):
    """`python -m train fit --mode partial` on a small real subset: cross-validated, judged
    against the head by the protocol, calibrated out of fold, exported, its cache warmed."""
    from train.bundle import Bundle
    from train.every_photo import load_oof
    from train.features import cache_for
    from train.config import TrainingConfig, TrainingMode
    from train.partial_finetune import PartialRecipe
    from train.partial_fit import fit_partial
    from train.runtime import ModelRunner
    from train.preprocess import load_input

    import os

    from species_data.dataset import scan

    tree = tmp_path / "photos"  # 15 real photos of each of three classes
    for p in [p for label in ("elephant", "hard_coral", "seahorse")
              for p in [q for q in scan([photos_root], [label]).photos][:15]]:
        (tree / p.label).mkdir(parents=True, exist_ok=True)
        os.symlink(p.path, tree / p.label / p.path.name)
    cfg = TrainingConfig(data=[tree], out=tmp_path / "models" / "p1", data_dir=tmp_path / "data", card_dir=None,
                         progress=False, folds=3, mode=TrainingMode.PARTIAL_FINETUNE)
    bundle = fit_partial(cfg, PartialRecipe(views=1, epochs=1, batch_size=16))
    meta = Bundle.load(bundle.path).meta
    assert meta.training.mode is TrainingMode.PARTIAL_FINETUNE and meta.training.all_photos
    assert len(meta.training.details["epochs_per_fold"]) == 3
    verdict = meta.metrics.protocol
    assert isinstance(verdict.adopted, bool) and verdict.reason
    assert set(verdict.tests) >= {"top1", "released"}
    assert meta.metrics.cv.metrics.top1 > 0.6  # chance is 1/3
    photos = [p for p in Bundle.load(bundle.path).manifest()]
    oof = load_oof(bundle.path)
    assert set(oof.index) == {p["sha256"] for p in photos}
    # served through the bundle's own ONNX export, as the app would; the same as torch
    some = [row for row in photos][:4]
    x = np.stack([load_input(Path(row["path"]), meta.preprocessing)[0] for row in some])
    onnx, torch_out = ModelRunner(bundle, "onnx").run(x), ModelRunner(bundle, "torch").run(x)
    assert _rel(onnx.logits, torch_out.logits) < 1e-4
    # the fine-tuned backbone's features are cached where quick updates and compare look
    cache = cache_for(bundle, cfg.data_dir)
    assert _rel(cache.get(some[0]["sha256"]), torch_out.features[0]) < 1e-4
