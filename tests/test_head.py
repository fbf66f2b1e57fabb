"""The linear head and the temperature: numpy/scipy fits that must find the true optimum."""
import numpy as np
import pytest

from train.head import class_weights, fit_head, fit_temperature, softmax


def _blobs(n_per=(200, 200, 30), d=16, seed=0, spread=1.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, spread, (len(n_per), d))
    x = np.concatenate([rng.normal(c, 1.0, (n, d)) for c, n in zip(centres, n_per)]).astype(np.float32)
    y = np.concatenate([np.full(n, i) for i, n in enumerate(n_per)])
    return x, y


def _std_gradient(x, y, classes, l2, w, b):
    """Gradient of the objective `fit_head` minimises, written independently in float64."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    xs = (x - mean) / std
    s = class_weights(y, classes)
    s = s / s.sum()
    p = softmax(xs @ w.T.astype(np.float64) + b)
    p[np.arange(len(y)), y] -= 1.0
    g = p * s[:, None]
    return g.T @ xs + l2 * w, g.sum(0)


def test_head_reaches_the_optimum_of_its_objective():
    x, y = _blobs()
    head = fit_head(x, y, x[:0], y[:0], 3, l2_grid=(1e-2,))
    gw, gb = _std_gradient(x.astype(np.float64), y, 3, 1e-2, head.std_weight, head.std_bias)
    assert max(np.abs(gw).max(), np.abs(gb).max()) < 1e-4
    # the raw-feature head is the standardised one with the scaling folded in
    mean, std = x.mean(0), x.std(0) + 1e-6
    np.testing.assert_allclose(x @ head.weight.T + head.bias,
                               ((x - mean) / std) @ head.std_weight.T + head.std_bias, rtol=1e-4, atol=1e-3)


def test_warm_start_converges_to_the_same_head():
    x, y = _blobs(seed=1)
    cold = fit_head(x, y, x[:0], y[:0], 3, l2_grid=(1e-2,))
    rng = np.random.default_rng(2)
    warm = fit_head(x, y, x[:0], y[:0], 3, l2_grid=(1e-2,),
                    init=(rng.normal(0, 1, cold.std_weight.shape).astype(np.float32), np.zeros(3, np.float32)))
    np.testing.assert_allclose(warm.weight, cold.weight, rtol=0, atol=2e-3 * np.abs(cold.weight).max())


def test_the_l2_walk_keeps_the_value_with_the_lowest_validation_loss():
    # few, overlapping photos and many features: neither end of the grid is best
    x, y = _blobs(n_per=(30, 30, 30), d=64, seed=3, spread=0.3)
    xv, yv = _blobs(n_per=(300, 300, 300), d=64, seed=3, spread=0.3)
    grid = (1.0, 1e-1, 1e-2, 1e-3)
    chosen = fit_head(x, y, xv, yv, 3, l2_grid=grid, early_stop=False)
    nll = {l2: fit_head(x, y, xv, yv, 3, l2_grid=(l2,)).val_nll for l2 in grid}
    assert min(nll, key=nll.get) not in (grid[0], grid[-1])
    assert chosen.l2 == min(nll, key=nll.get)
    assert chosen.val_nll == pytest.approx(min(nll.values()), rel=1e-3)


def test_rare_classes_are_weighted_up_by_the_square_root_of_their_count():
    w = class_weights(np.array([0] * 100 + [1] * 25), 2)
    assert w[-1] / w[0] == np.sqrt(100 / 25)


def test_temperature_recovers_the_one_that_generated_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20000, 5))
    for true_t in (0.5, 2.0):
        p = softmax(logits, true_t)
        labels = np.array([rng.choice(5, p=row) for row in p])
        assert abs(fit_temperature(logits, labels) - true_t) < 0.05 * true_t
    assert fit_temperature(logits[:0], labels[:0]) == 1.0
