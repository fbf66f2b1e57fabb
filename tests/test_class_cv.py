"""k-fold recall of a small new class (train.class_cv) on real photos."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from species_data.dataset import Split, scan
from train.class_cv import ClassRecall, kfold_class_recall
from train.crossval import HeadRecipe, fold_of

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[1]
BASE = ("elephant", "giant_panda", "hard_coral")
NEW = "seahorse"


@pytest.fixture(scope="module")
def real(photos_root):
    """Lite0 features of the base classes' photos and 14 photos of a 'new' class."""
    from train.embeddings import EmbeddingCache, embed_photos
    from train.fit import LazyNetwork
    from train.backbone import spec

    every = scan([photos_root], list(BASE) + [NEW])
    photos = [p for p in every.photos if p.label in BASE][::3] + [p for p in every.photos if p.label == NEW][:14]
    labels = [*BASE, NEW]
    cache = EmbeddingCache.for_backbone(ROOT / "data", "tf_efficientnet_lite0")
    feats, kept, _ = embed_photos(photos, LazyNetwork("tf_efficientnet_lite0", 4).backbone,
                                  spec("tf_efficientnet_lite0").preprocessing, cache, progress=False)
    y = np.array([labels.index(p.label) for p in kept])
    train = np.array([p.split is Split.TRAIN for p in kept])
    return feats, y, [p.sha256 for p in kept], train, labels


def test_every_photo_of_the_class_is_tested_once_by_a_head_that_never_saw_it(real):
    feats, y, shas, train, labels = real
    recipe = HeadRecipe(max_iter=60)
    r = kfold_class_recall(feats, y, shas, train, NEW, labels, recipe)
    own = np.nonzero(y == labels.index(NEW))[0]
    assert r.photos == len(own) == 14 and r.folds == 5
    # the same by hand: fold by content hash, other classes on their train photos only
    fold = np.array([fold_of(shas[i], 0, 5) for i in own])
    others = np.nonzero(train & (y != labels.index(NEW)))[0]
    hits = 0
    for j in range(5):
        head = recipe.fit(feats[np.r_[others, own[fold != j]]], y[np.r_[others, own[fold != j]]], len(labels))
        hits += int(np.sum((feats[own[fold == j]] @ head.weight.T + head.bias).argmax(1) == labels.index(NEW)))
    assert r.hits == hits and r.recall == pytest.approx(hits / 14)
    assert r.low <= r.recall <= r.high and r.high - r.low > 0.1  # 14 photos: a wide interval
    assert r.recall > 0.5  # seahorses are easy to tell from elephants, pandas and corals
    assert ClassRecall.from_dict(r.to_dict()) == r


def test_a_class_of_one_photo_is_refused(real):
    feats, y, shas, train, labels = real
    keep = np.r_[np.nonzero(y != labels.index(NEW))[0], np.nonzero(y == labels.index(NEW))[0][:1]]
    with pytest.raises(ValueError, match="at least 2"):
        kfold_class_recall(feats[keep], y[keep], [shas[i] for i in keep], train[keep], NEW, labels)
