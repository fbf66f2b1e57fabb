"""Cross-validation folds and out-of-fold predictions (train.crossval): no leaks, no drift."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from train.crossval import HeadRecipe, assign_folds, cross_fitted, duplicate_groups, fold_of, oof_logits


def _shas(n: int) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]


def test_near_duplicates_share_a_group_and_chains_join():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 32))
    x[1] = x[0] + 0.01 * rng.standard_normal(32)  # a re-encoded copy of photo 0
    x[2] = x[1] + 0.01 * rng.standard_normal(32)  # and a copy of the copy
    x[5] = 3.0 * x[4]  # the same direction, another scale: cosine 1
    groups = duplicate_groups(x, threshold=0.95)
    assert groups[0] == groups[1] == groups[2] == 0
    assert groups[4] == groups[5] == 4
    assert groups[3] == 3 and len(set(groups)) == 3


def test_groups_never_straddle_folds_and_folds_are_stable():
    shas = _shas(300)
    groups = np.arange(300)
    groups[100:110] = 100  # one group of ten photos
    for repeat in range(3):
        folds = assign_folds(shas, groups, repeat)
        assert len(set(folds[100:110])) == 1
        assert set(folds) == set(range(5))
        # a photo's fold depends only on its (group's) hash: adding photos moves nothing
        more = assign_folds(shas + _shas(400)[300:], np.r_[groups, np.arange(300, 400)], repeat)
        assert np.array_equal(more[:300], folds)
    assert not np.array_equal(assign_folds(shas, None, 0), assign_folds(shas, None, 1))
    assert fold_of(shas[0], 2) == fold_of(shas[0], 2)


def test_out_of_fold_logits_come_from_heads_that_never_saw_the_photo():
    rng = np.random.default_rng(1)
    n, d, classes = 200, 8, 3
    y = rng.integers(0, classes, n)
    x = rng.standard_normal((n, d)) + 2.0 * np.eye(classes, d)[y]
    folds = np.arange(n) % 5
    recipe = HeadRecipe(l2=1e-2)
    logits, (applied,) = oof_logits(x, y, folds, classes, recipe, apply_to=[x[:7]])
    for k in (0, 3):
        head = recipe.fit(x[folds != k], y[folds != k], classes)
        rows = folds == k
        assert np.allclose(logits[rows], x[rows] @ head.weight.T + head.bias, atol=1e-4)
        assert np.allclose(applied[k], x[:7] @ head.weight.T + head.bias, atol=1e-4)
    assert np.mean(logits.argmax(1) == y) > 0.8


def test_extra_training_rows_follow_their_photo_fold():
    """An augmented view of a test photo must not train that photo's head: give photo 0's
    views a wrong label; only heads of other folds see them, so photo 0 stays right."""
    rng = np.random.default_rng(2)
    n, d, classes = 100, 4, 2
    y = np.arange(n) % 2
    x = rng.standard_normal((n, d)) * 0.1 + np.eye(classes, d)[y]
    folds = np.arange(n) % 5
    views = np.repeat(x[:1], 200, axis=0)
    wrong = np.full(200, 1 - y[0])
    owner = np.zeros(200, np.int64)
    logits, _ = oof_logits(x, y, folds, classes, HeadRecipe(), extra=(views, wrong, owner))
    assert logits[0].argmax() == y[0]
    same_fold_neighbour = 5  # fold 0 too: its head never saw the poisoned views either
    assert logits[same_fold_neighbour].argmax() == y[same_fold_neighbour]


def test_cross_fitted_choices_exclude_their_own_fold():
    folds = np.array([0, 1, 2, 0, 1, 2])
    seen = cross_fitted(folds, lambda other: tuple(np.nonzero(other)[0]))
    assert seen == [(1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 3, 4)]


@pytest.mark.parametrize("balance", [0.0, 1.0])
def test_recipe_weighting_changes_the_head(balance):
    rng = np.random.default_rng(3)
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    x = rng.standard_normal((100, 4)) + 0.5 * np.eye(2, 4)[y]
    base = HeadRecipe().fit(x, y, 2)
    other = HeadRecipe(balance=balance).fit(x, y, 2)
    scaled = HeadRecipe(class_scale=(1.0, 3.0)).fit(x, y, 2)
    assert not np.allclose(base.bias, other.bias)
    # errors on the rare class cost more: its bias rises
    assert scaled.bias[1] - scaled.bias[0] > base.bias[1] - base.bias[0]
