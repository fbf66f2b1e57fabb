"""The published model learns from every photo, calibrated out of fold (train.every_photo), on real photos."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from species_data.dataset import scan
from train import ood
from train.calibrate import decision_thresholds
from train.crossval import HeadRecipe, assign_folds, duplicate_groups
from train.every_photo import calibrate_oof, head_folds, load_oof, oof_outputs, save_oof
from train.head import fit_temperature, softmax

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["bone_carving", "elephant", "ivory_carving", "leopard", "porcelain_ware", "tiger"]


@pytest.fixture(scope="module")
def real(photos_root):
    """Lite0 features of every third photo of six classes (ivory and its look-alikes among them),
    and a few out-of-catalogue photos."""
    from train.backbone import spec
    from train.embeddings import EmbeddingCache, embed_photos
    from train.fit import LazyNetwork, class_groups, ood_photos
    from train.snapshot import catalogue_snapshot

    pre = spec("tf_efficientnet_lite0").preprocessing
    cache = EmbeddingCache.for_backbone(ROOT / "data", "tf_efficientnet_lite0")
    network = LazyNetwork("tf_efficientnet_lite0", len(CLASSES))
    photos = list(scan([photos_root], CLASSES).photos)[::3]
    feats, kept, _ = embed_photos(photos, network.backbone, pre, cache, progress=False)
    tune, report = ood_photos(photos_root.parent / "photos_ood")
    f_tune, _, _ = embed_photos(tune[:30], network.backbone, pre, cache, progress=False)
    f_report, _, _ = embed_photos(report[:30], network.backbone, pre, cache, progress=False)
    y = np.array([CLASSES.index(p.label) for p in kept])
    folds = assign_folds([p.sha256 for p in kept], duplicate_groups(feats))
    zeros = lambda f: np.zeros((len(f), 4), np.float32)  # noqa: E731 (no ImageNet head needed here)
    fold_list = head_folds(feats, y, zeros(feats), folds, len(CLASSES), HeadRecipe(max_iter=80),
                           (f_tune, zeros(f_tune)), (f_report, zeros(f_report)))
    return feats, y, kept, folds, fold_list, class_groups(CLASSES, catalogue_snapshot(CLASSES))


def test_each_photo_is_answered_by_a_head_that_never_saw_it(real):
    feats, y, kept, folds, fold_list, _ = real
    assert sorted(np.concatenate([f.rows for f in fold_list]).tolist()) == list(range(len(y)))
    fold = fold_list[2]
    assert np.all(folds[fold.rows] == 2)
    head = HeadRecipe(max_iter=80).fit(feats[folds != 2], y[folds != 2], len(CLASSES))
    np.testing.assert_allclose(fold.photos.logits, feats[fold.rows] @ head.weight.T + head.bias, rtol=1e-4, atol=1e-3)
    # the fold's out-of-catalogue reference holds only the photos it trained on
    assert len(fold.ref.bank) == int(np.sum(folds != 2))


def test_calibration_is_chosen_on_out_of_fold_answers(real):
    feats, y, _, _, fold_list, classes = real
    cal = calibrate_oof(fold_list, classes, methods=("msp", "knn"))
    photos, report = oof_outputs(fold_list, cal)
    assert cal.temperature == pytest.approx(fit_temperature(photos.logits, y), rel=1e-6)
    thresholds, _ = decision_thresholds(softmax(photos.logits, cal.temperature), y, classes)
    assert cal.thresholds.identify == thresholds.identify and cal.thresholds.release == thresholds.release
    assert set(cal.ood_report["auroc_tune"]) == {"msp", "knn"} and cal.ood_report["auroc_tune"]["knn"] > 0.8
    # every in-catalogue score is out of fold: against the final model's reference (which
    # holds the photo itself) a photo's k-NN score would be near 0
    every = ood.OodReference.fit(feats, y, len(CLASSES))
    if cal.ood_method == "knn":
        in_sample = ood.scores("knn", None, feats, None, 1.0, every)
        assert np.median(photos.scores) > np.median(in_sample) + 0.02
    assert report is not None and len(report.logits) == 30 * len(fold_list)  # each fold's model on each photo
    assert photos.scores.shape == (len(y),) and np.all(np.isfinite(photos.scores))


def test_out_of_fold_logits_round_trip_by_content_hash(real, tmp_path):
    _, y, kept, folds, fold_list, classes = real
    cal = calibrate_oof(fold_list, classes, methods=("msp",))
    photos, _ = oof_outputs(fold_list, cal)
    save_oof(tmp_path / "oof.npz", [p.sha256 for p in kept], folds, photos)
    back = load_oof(tmp_path)
    assert set(back.index) == {p.sha256 for p in kept} and kept[5].sha256 in back
    np.testing.assert_array_equal(back.logits[back.rows([kept[5].sha256])][0], photos.logits[5].astype(np.float32))
    np.testing.assert_array_equal(back.scores, photos.scores.astype(np.float32))
    assert load_oof(tmp_path / "elsewhere") is None
