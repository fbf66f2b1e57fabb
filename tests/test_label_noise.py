"""Label-noise flags: out-of-fold judgements catch swapped labels and strays, not clean photos."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from train.label_noise import FlagReason, NoiseConfig, find_label_noise, out_of_fold, stratified_folds

ROOT = Path(__file__).resolve().parents[1]


def clusters(seed: int = 0, per_class: int = 60, d: int = 16):
    """Three tight clusters; 5 photos of `a` labelled `b`; 4 strays (no class) labelled `c`."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (3, d)) * 4
    x = np.vstack([centres[c] + rng.normal(0, 1, (per_class, d)) for c in range(3)])
    y = np.repeat(np.arange(3), per_class)
    swapped = np.arange(5)  # photos of a ...
    y[swapped] = 1  # ... filed under b
    strays = np.arange(2 * per_class, 2 * per_class + 4)
    x[strays] = rng.normal(0, 1, (4, d)) * 4 - centres.mean(0) * 3  # unlike any class
    return x.astype(np.float32), y, set(swapped.tolist()), set(strays.tolist())


def test_swapped_labels_and_strays_are_flagged_and_clean_photos_are_not():
    x, y, swapped, strays = clusters()
    flags = find_label_noise(x, ["a", "b", "c"], y)
    flagged = {f.index for f in flags}
    assert swapped <= flagged and strays <= flagged
    assert len(flagged - swapped - strays) <= 2  # at most a couple of false alarms out of 171 clean photos
    for f in flags:
        if f.index in swapped:
            assert f.reason is FlagReason.OTHER_CLASS and f.label == "b" and f.suggested == "a"
            assert f.p_given < 0.15 < 0.6 <= f.p_suggested
        if f.index in strays:
            assert f.label == "c"


def test_a_photo_is_never_judged_by_a_head_that_saw_it():
    """One mislabelled photo: a head trained on it memorises its label; out-of-fold it does not."""
    from train.head import fit_head, softmax

    x, y, _, _ = clusters(seed=1)
    y = y.copy()
    y[1:5] = 0  # only photo 0 stays mislabelled (an `a` filed under b)
    cfg = NoiseConfig(l2=1e-4, max_iter=200)
    probs, _ = out_of_fold(x, y, 3, cfg)
    seen = fit_head(x, y, x[:0], y[:0], 3, l2_grid=(cfg.l2,), max_iter=cfg.max_iter)
    p_seen = softmax(x[:1] @ seen.weight.T + seen.bias)[0]
    assert p_seen[1] > 0.5  # judged by a head that saw it: "yes, b"
    assert probs[0, 1] < 0.15 and probs[0].argmax() == 0  # out of fold: "that is an a"
    assert probs.shape == (len(y), 3) and np.allclose(probs.sum(1), 1.0)


def test_folds_spread_every_class_evenly():
    y = np.repeat(np.arange(3), [10, 11, 7])
    fold = stratified_folds(y, 5)
    for c in range(3):
        counts = np.bincount(fold[y == c], minlength=5)
        assert counts.max() - counts.min() <= 1


def test_only_limits_what_is_reported():
    x, y, swapped, strays = clusters()
    flags = find_label_noise(x, ["a", "b", "c"], y, only=["c"])
    assert {f.label for f in flags} == {"c"} and {f.index for f in flags} >= strays


@pytest.mark.model
def test_noisy_tiger_photos_are_flagged():
    """../shared/photos/tiger holds about one photo in seven that is no tiger (tiger lilies,
    tiger nuts, a tiger barb, Tiger Woods, skulls...). Uses the default bundle's cached features."""
    from train.bundle import Bundle
    from train.features import cache_for, cached_features
    from train.label_noise import flag_photos
    from train.quick_update import photos_from_manifest

    bundle_dir = ROOT / "data" / "models" / "v1"
    if not (bundle_dir / "manifest.json").exists():
        pytest.skip("no default bundle with a manifest (data/models/v1)")
    bundle = Bundle.load(bundle_dir)
    classes = {"tiger", "lion", "leopard", "jaguar", "cougar", "domestic_cat", "hard_coral", "porcelain_ware"}
    photos = [p for p in photos_from_manifest(bundle.manifest()) if p.label in classes]
    feats = cached_features(photos, cache_for(bundle, ROOT / "data"))
    if feats is None:
        pytest.skip("the default bundle's photos are not all in the embedding cache")
    flags = [f for f in flag_photos(photos, feats, only=["tiger"])]
    names = {Path(f.path).stem.rsplit("_", 1)[-1] for f in flags}
    n_tiger = sum(p.label == "tiger" for p in photos)
    assert 10 <= len(flags) <= n_tiger // 4, f"{len(flags)} flags of {n_tiger}: {sorted(names)}"
    # known noise: a tiger lily, tiger nuts, a tiger barb fish, Tiger Woods, prawns
    assert {"tiger550", "tiger33", "tiger462", "tiger642", "tiger728"} <= names
