"""Linear head on frozen features (multinomial logistic regression) and temperature scaling.

Features are standardised for the fit and the scaling is folded back into the
weights, so the saved head is a plain `nn.Linear` on raw pooled features.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# numpy and scipy only: serving imports `softmax` from here, and a head-mode re-fit from
# cached embeddings runs without torch (seconds of import time saved; bench/fit_times.py).

# Threads for the head fit. Its matrix products are skinny (classes x features) and the
# L-BFGS bookkeeping is many tiny ops: one thread is as fast as two on an idle machine
# and several times faster on a busy one, and numpy's and scipy's BLAS pools would
# otherwise wait on each other (bench/fit_times.py, bench/RESULTS.md).
FIT_THREADS = 1


@dataclass(frozen=True)
class HeadFit:
    weight: np.ndarray  # (classes, features), acts on raw features
    bias: np.ndarray  # (classes,)
    l2: float  # chosen regularisation strength
    val_nll: float
    std_weight: np.ndarray  # the same head on standardised features (to warm-start refits)
    std_bias: np.ndarray


def _logsumexp(z: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(logsumexp, exp(z - max), sum of those) along `axis`."""
    m = z.max(axis, keepdims=True)
    e = np.exp(z - m)
    total = e.sum(axis, keepdims=True)
    return (m + np.log(total)).squeeze(axis), e, total


def _fit_lbfgs(x: np.ndarray, y: np.ndarray, classes: int, l2: float, sample_w: np.ndarray, max_iter: int,
               init: tuple[np.ndarray, np.ndarray] | None = None,
               xt: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch L-BFGS (scipy's L-BFGS-B, unbounded) on the weighted cross-entropy + L2;
    `init` warm-starts it. The loss and its gradient are written out:
        z = W x + b,  loss = sum_i s_i (logsumexp z_i - z_i[y_i]) / sum s + l2/2 |W|^2,
        dW = G^T X + l2 W,  db = sum_i G_i,  G = s (softmax z - onehot y) / sum s.
    Classes stay the leading axis (`xt` = x transposed) so both products are the fast shape."""
    from scipy.optimize import minimize

    n, d = x.shape
    if xt is None:
        xt = np.ascontiguousarray(x.T)
    onehot = np.zeros((classes, n), np.float32)
    onehot[y, np.arange(n)] = 1.0
    s = (sample_w / sample_w.sum()).astype(np.float32)
    cut = classes * d

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[:cut].reshape(classes, d).astype(np.float32)
        b = theta[cut:].astype(np.float32)
        z = w @ xt + b[:, None]  # (classes, n)
        lse, e, total = _logsumexp(z, 0)
        loss = float(s @ (lse - (z * onehot).sum(0))) + 0.5 * l2 * float(np.vdot(w, w))
        g = (e / total - onehot) * s  # (classes, n)
        return loss, np.concatenate([(g @ x + l2 * w).ravel(), g.sum(1)]).astype(np.float64)

    if init is None:
        theta0 = np.zeros(cut + classes)
    else:
        theta0 = np.concatenate([np.asarray(init[0], np.float64).ravel(), np.asarray(init[1], np.float64)])
    result = minimize(loss_and_grad, theta0, jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter, "maxcor": 20, "gtol": 1e-5, "ftol": 1e-7})
    return (result.x[:cut].reshape(classes, d).astype(np.float32), result.x[cut:].astype(np.float32))


def class_weights(y: np.ndarray, classes: int, power: float = 0.5) -> np.ndarray:
    """Per-sample weights ~ count^-power (0.5: square-root balancing of rare classes)."""
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    per_class = np.where(counts > 0, counts, 1.0) ** -power
    w = per_class[y]
    return w / w.mean()


def fit_head(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, classes: int,
    l2_grid: tuple[float, ...] = (1e-2, 3e-3, 1e-3, 3e-4), max_iter: int = 150,
    init: tuple[np.ndarray, np.ndarray] | None = None, early_stop: bool = True, balance: float = 0.5,
    class_scale: np.ndarray | None = None,
) -> HeadFit:
    """Fit on train for each L2 strength (strongest first, each warm-starting the next),
    keep the one with the lowest validation NLL. `init`: a previous fit's standardised
    weights (`HeadFit.std_weight`, `std_bias`) to start from. `early_stop`: walk the grid
    only until the validation NLL rises (it is unimodal along the path in practice;
    False fits every value). `balance`: class weights ~ count^-balance (0.5: square-root
    balancing of rare classes, 0: none). `class_scale`: per-class factors on those weights
    (cost-sensitive fitting: errors on a class with factor 2 cost twice as much)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=FIT_THREADS):
        mean = x_train.mean(0).astype(np.float64)
        std = x_train.std(0).astype(np.float64) + 1e-6
        xs = ((x_train - mean) / std).astype(np.float32)
        xs_t = np.ascontiguousarray(xs.T)
        sw = class_weights(y_train, classes, balance)
        if class_scale is not None:
            sw = sw * np.asarray(class_scale, np.float64)[y_train]
            sw = sw / sw.mean()
        xv = ((x_val - mean) / std).astype(np.float32) if len(x_val) else None
        best: tuple[float, float, np.ndarray, np.ndarray] | None = None
        grid = l2_grid if xv is not None else (l2_grid[len(l2_grid) // 2],)
        start = init
        for l2 in grid:
            w, b = _fit_lbfgs(xs, y_train, classes, l2, sw, max_iter, start, xt=xs_t)
            start = (w, b)
            nll = _mean_nll(xv @ w.T + b, y_val) if xv is not None else 0.0
            if best is None or nll < best[0]:
                best = (nll, l2, w, b)
            elif early_stop:
                break  # validation NLL turned up: weaker L2 values only overfit more
    assert best is not None
    nll, l2, w, b = best
    # fold the standardisation in: w' = w / std, b' = b - w' . mean
    w64, b64 = w.astype(np.float64), b.astype(np.float64)
    w_raw = w64 / std[None, :]
    b_raw = b64 - w_raw @ mean
    return HeadFit(w_raw.astype(np.float32), b_raw.astype(np.float32), l2, nll,
                   w64.astype(np.float32), b64.astype(np.float32))


def _mean_nll(logits: np.ndarray, labels: np.ndarray) -> float:
    lse, _, _ = _logsumexp(logits.astype(np.float64), 1)
    return float(np.mean(lse - logits[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T in [0.05, 20] minimising validation NLL of softmax(logits / T)
    (Guo et al., 2017): a one-dimensional bounded search over log T."""
    if len(logits) == 0:
        return 1.0
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits, np.float64)
    result = minimize_scalar(lambda log_t: _mean_nll(z / np.exp(log_t), labels),
                             bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
