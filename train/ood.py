"""Out-of-catalogue scores: how unlike the catalogue a photo is (higher = stranger).

Max-softmax alone is weak on photos of things the model never saw, so several
scores are measured (see `train evaluate`, section "out-of-catalogue") and the
bundle keeps the one that separates best on held-out photos:

- `msp`: 1 - max calibrated softmax probability (Hendrycks & Gimpel, 2017);
- `energy`: -T * logsumexp(logits / T) (Liu et al., 2020);
- `centroid`: 1 - cosine similarity to the nearest class mean of L2-normalised features;
- `knn`: 1 - cosine similarity to the k-th nearest training feature (Sun et al., 2022);
- `imagenet_msp`: 1 - max ImageNet probability of the pretrained head.

Only numpy here: serving computes the score from the exported model's outputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .head import softmax

METHODS = ("msp", "energy", "centroid", "knn", "imagenet_msp")
KNN_K = 5


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)


@dataclass
class OodReference:
    """What the distance scores compare with: class centroids and (subsampled) train features."""

    centroids: np.ndarray  # (classes, d), unit norm
    bank: np.ndarray  # (m, d), unit norm, float16 on disk
    k: int = KNN_K
    extras: dict = field(default_factory=dict)

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, classes: int, max_bank: int = 4000) -> "OodReference":
        unit = _normalise(features.astype(np.float32))
        centroids = np.stack([
            _normalise(unit[labels == c].mean(0)) if np.any(labels == c) else np.zeros(unit.shape[1], np.float32)
            for c in range(classes)
        ])
        rng = np.random.default_rng(0)
        bank = unit if len(unit) <= max_bank else unit[rng.choice(len(unit), max_bank, replace=False)]
        return cls(centroids.astype(np.float32), bank.astype(np.float16))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"centroids": self.centroids, "bank": self.bank}

    @classmethod
    def from_arrays(cls, arrays) -> "OodReference":
        return cls(np.asarray(arrays["centroids"], np.float32), np.asarray(arrays["bank"], np.float16))

    def add_class(self, features: np.ndarray) -> "OodReference":
        """A quick update adds a class: its centroid and its photos join the references."""
        unit = _normalise(features.astype(np.float32))
        centroids = np.vstack([self.centroids, _normalise(unit.mean(0))[None]])
        return OodReference(centroids.astype(np.float32), np.vstack([self.bank, unit.astype(np.float16)]))


def scores(method: str, logits: np.ndarray, features: np.ndarray, imagenet_logits: np.ndarray,
           temperature: float, ref: OodReference) -> np.ndarray:
    """Out-of-catalogue score per row (higher = less like the catalogue)."""
    if method == "msp":
        return 1.0 - softmax(logits, temperature).max(-1)
    if method == "energy":
        z = logits / temperature
        m = z.max(-1, keepdims=True)
        return -temperature * (m[:, 0] + np.log(np.exp(z - m).sum(-1)))
    if method == "imagenet_msp":
        return 1.0 - softmax(imagenet_logits).max(-1)
    unit = _normalise(features.astype(np.float32))
    if method == "centroid":
        return 1.0 - (unit @ ref.centroids.T).max(-1)
    if method == "knn":
        sims = unit @ ref.bank.astype(np.float32, copy=False).T
        k = min(ref.k, sims.shape[1])
        kth = np.partition(-sims, k - 1, axis=1)[:, k - 1]
        return 1.0 + kth
    raise ValueError(f"unknown out-of-catalogue method {method!r}; choose one of {', '.join(METHODS)}")


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Probability that an out-of-catalogue photo scores higher than an in-catalogue one."""
    if len(in_scores) == 0 or len(out_scores) == 0:
        return float("nan")
    both = np.concatenate([in_scores, out_scores])
    ranks = both.argsort().argsort().astype(np.float64) + 1
    r_out = ranks[len(in_scores):].sum()
    n_in, n_out = len(in_scores), len(out_scores)
    return float((r_out - n_out * (n_out + 1) / 2) / (n_in * n_out))


def threshold_at_rate(in_scores: np.ndarray, flag_rate: float) -> float:
    """Score above which only `flag_rate` of in-catalogue photos fall."""
    return float(np.quantile(in_scores, 1.0 - flag_rate)) if len(in_scores) else float("inf")
