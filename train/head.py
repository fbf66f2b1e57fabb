"""Linear head on frozen features (multinomial logistic regression) and temperature scaling.

Features are standardised for the fit and the scaling is folded back into the
weights, so the saved head is a plain `nn.Linear` on raw pooled features.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

# torch is imported inside the fitting functions only: serving imports `softmax` from
# here and must not pay for torch (~0.5 GB resident, seconds of import time).

# Threads for the head fit. Its matrix products are skinny (classes x features) and the
# L-BFGS bookkeeping is many tiny ops: one thread is as fast as two on an idle machine
# and several times faster on a busy one (bench/fit_times.py, bench/RESULTS.md).
FIT_THREADS = 1


@dataclass(frozen=True)
class HeadFit:
    weight: np.ndarray  # (classes, features), acts on raw features
    bias: np.ndarray  # (classes,)
    l2: float  # chosen regularisation strength
    val_nll: float
    std_weight: np.ndarray  # the same head on standardised features (to warm-start refits)
    std_bias: np.ndarray


@contextmanager
def _torch_threads(n: int | None):
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n:
            torch.set_num_threads(old)


def _fit_lbfgs(x, y, classes: int, l2: float, sample_w, max_iter: int, init=None, xt=None):
    """Full-batch L-BFGS on the weighted cross-entropy + L2; `init` warm-starts it.

    The loss and its gradient are written out (no autograd graph per step):
        z = W x + b,  loss = sum_i s_i (logsumexp z_i - z_i[y_i]) / sum s + l2/2 |W|^2,
        dW = G^T X + l2 W,  db = sum_i G_i,  G = s (softmax z - onehot y) / sum s.
    Classes stay the leading axis (`xt` = x transposed) so both products are the
    fast shape. `x`, `y`, `sample_w` are torch tensors."""
    import torch

    if init is None:
        init = torch.zeros(classes, x.shape[1]), torch.zeros(classes)
    if xt is None:
        xt = x.T.contiguous()
    w = init[0].clone().float()
    b = init[1].clone().float()
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-5, tolerance_change=1e-7)
    onehot_t = torch.zeros(classes, x.shape[0])
    onehot_t[y, torch.arange(x.shape[0])] = 1.0
    s = (sample_w / sample_w.sum()).float()

    def closure():
        z = torch.addmm(b[:, None], w, xt)  # (classes, n)
        lse = torch.logsumexp(z, 0)
        loss = (s * (lse - (z * onehot_t).sum(0))).sum() + 0.5 * l2 * (w * w).sum()
        g = (torch.exp(z - lse) - onehot_t) * s  # (classes, n)
        w.grad = torch.addmm(w, g, x, beta=l2)
        b.grad = g.sum(1)
        return loss

    opt.step(closure)
    return w, b


def class_weights(y: np.ndarray, classes: int, power: float = 0.5) -> np.ndarray:
    """Per-sample weights ~ count^-power (0.5: square-root balancing of rare classes)."""
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    per_class = np.where(counts > 0, counts, 1.0) ** -power
    w = per_class[y]
    return w / w.mean()


def fit_head(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, classes: int,
    l2_grid: tuple[float, ...] = (1e-2, 3e-3, 1e-3, 3e-4), max_iter: int = 150,
    init: tuple[np.ndarray, np.ndarray] | None = None, early_stop: bool = True,
) -> HeadFit:
    """Fit on train for each L2 strength (strongest first, each warm-starting the next),
    keep the one with the lowest validation NLL. `init`: a previous fit's standardised
    weights (`HeadFit.std_weight`, `std_bias`) to start from. `early_stop`: walk the grid
    only until the validation NLL rises (it is unimodal along the path in practice;
    False fits every value)."""
    import torch

    with _torch_threads(FIT_THREADS):
        torch.manual_seed(0)
        mean = x_train.mean(0).astype(np.float64)
        std = x_train.std(0).astype(np.float64) + 1e-6
        xs = torch.from_numpy(((x_train - mean) / std).astype(np.float32))
        xs_t = xs.T.contiguous()
        yt = torch.from_numpy(y_train).long()
        sw = torch.from_numpy(class_weights(y_train, classes)).float()
        xv = torch.from_numpy(((x_val - mean) / std).astype(np.float32)) if len(x_val) else None
        yv = torch.from_numpy(y_val).long() if len(y_val) else None
        best: tuple[float, float, torch.Tensor, torch.Tensor] | None = None
        grid = l2_grid if xv is not None else (l2_grid[len(l2_grid) // 2],)
        start = (torch.from_numpy(init[0]).float(), torch.from_numpy(init[1]).float()) if init is not None else None
        for l2 in grid:
            w, b = _fit_lbfgs(xs, yt, classes, l2, sw, max_iter, start, xt=xs_t)
            start = (w, b)
            nll = float(torch.nn.functional.cross_entropy(xv @ w.T + b, yv)) if xv is not None else 0.0
            if best is None or nll < best[0]:
                best = (nll, l2, w, b)
            elif early_stop:
                break  # validation NLL turned up: weaker L2 values only overfit more
    assert best is not None
    nll, l2, w, b = best
    # fold the standardisation in: w' = w / std, b' = b - w' . mean
    w64, b64 = w.double().numpy(), b.double().numpy()
    w_raw = w64 / std[None, :]
    b_raw = b64 - w_raw @ mean
    return HeadFit(w_raw.astype(np.float32), b_raw.astype(np.float32), l2, nll,
                   w64.astype(np.float32), b64.astype(np.float32))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T minimising validation NLL of softmax(logits / T) (Guo et al., 2017)."""
    if len(logits) == 0:
        return 1.0
    import torch
    import torch.nn.functional as F

    z = torch.from_numpy(logits).double()
    y = torch.from_numpy(labels).long()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(np.clip(log_t.exp().item(), 0.05, 20.0))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
