"""Linear head on frozen features (multinomial logistic regression) and temperature scaling.

Features are standardised for the fit and the scaling is folded back into the
weights, so the saved head is a plain `nn.Linear` on raw pooled features.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class HeadFit:
    weight: np.ndarray  # (classes, features), acts on raw features
    bias: np.ndarray  # (classes,)
    l2: float  # chosen regularisation strength
    val_nll: float
    std_weight: np.ndarray  # the same head on standardised features (to warm-start refits)
    std_bias: np.ndarray


def _fit_lbfgs(x: torch.Tensor, y: torch.Tensor, classes: int, l2: float, sample_w: torch.Tensor,
               max_iter: int, init: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-batch L-BFGS on the weighted cross-entropy + L2; `init` warm-starts it."""
    if init is None:
        init = torch.zeros(classes, x.shape[1]), torch.zeros(classes)
    w = init[0].clone().requires_grad_(True)
    b = init[1].clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-5, tolerance_change=1e-7)

    def closure():
        opt.zero_grad()
        loss = (F.cross_entropy(x @ w.T + b, y, reduction="none") * sample_w).sum() / sample_w.sum()
        loss = loss + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def class_weights(y: np.ndarray, classes: int, power: float = 0.5) -> np.ndarray:
    """Per-sample weights ~ count^-power (0.5: square-root balancing of rare classes)."""
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    per_class = np.where(counts > 0, counts, 1.0) ** -power
    w = per_class[y]
    return w / w.mean()


def fit_head(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, classes: int,
    l2_grid: tuple[float, ...] = (1e-2, 3e-3, 1e-3, 3e-4), max_iter: int = 150,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> HeadFit:
    """Fit on train for each L2 strength (strongest first, each warm-starting the next),
    keep the one with the lowest validation NLL. `init`: a previous fit's standardised
    weights (`HeadFit.std_weight`, `std_bias`) to start from."""
    torch.manual_seed(0)
    mean = x_train.mean(0).astype(np.float64)
    std = x_train.std(0).astype(np.float64) + 1e-6
    xt = torch.from_numpy((x_train - mean) / std).float()
    yt = torch.from_numpy(y_train).long()
    sw = torch.from_numpy(class_weights(y_train, classes)).float()
    xv = torch.from_numpy((x_val - mean) / std).float() if len(x_val) else None
    yv = torch.from_numpy(y_val).long() if len(y_val) else None
    best: tuple[float, float, torch.Tensor, torch.Tensor] | None = None
    grid = l2_grid if xv is not None else (l2_grid[len(l2_grid) // 2],)
    start = (torch.from_numpy(init[0]).float(), torch.from_numpy(init[1]).float()) if init is not None else None
    for l2 in grid:
        w, b = _fit_lbfgs(xt, yt, classes, l2, sw, max_iter, start)
        start = (w, b)
        nll = float(F.cross_entropy(xv @ w.T + b, yv)) if xv is not None else 0.0
        if best is None or nll < best[0]:
            best = (nll, l2, w, b)
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
