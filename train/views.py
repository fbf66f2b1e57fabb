"""Other views of a photo than the served one: mirrored, a detail tile, augmented.

Why: cheap ensembles (issue 16 item 3) average a model's answers over more views of
the same photo (test-time flips, the most textured region at twice the scale, where
Schreger lines and glaze crazing show), and a probe or a partial fine-tune learns from
augmented views of each training photo. Each view is one more forward pass, so each
gets its own embedding cache (keyed by content hash, like the served view's) and the
protocol (`bench/accuracy_cv.py`) decides whether it earns its latency.

What: `View` names a view and gives its loader (photo -> (3, S, S) model input) for
`train.embeddings.embed_photos`; `view_cache` is its embedding cache beside the served
view's. Every loader ends in `train.preprocess.normalise` with the bundle's record.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from species_data.dataset import Photo
from species_data.images import decode_image

from .embeddings import EmbeddingCache, Loader, served_input
from .preprocess import Preprocessing, centre_crop_resize, normalise

KINDS = ("served", "flip", "tile2x", "aug")
TILE_SCALE = 2.0
TILE_STRIDE = 4  # windows are tried every input_size / TILE_STRIDE pixels


@dataclass(frozen=True)
class View:
    kind: str = "served"
    index: int = 0  # aug: which augmented view (0..K-1)
    strength: str = "light"  # aug: train.augment strength
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"view kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    @property
    def tag(self) -> str:
        """The view's part of its cache folder name ("" for the served view)."""
        if self.kind == "aug":
            return f"aug-{self.strength}-s{self.seed}-{self.index}"
        return "" if self.kind == "served" else self.kind

    def loader(self) -> Loader:
        if self.kind == "served":
            return served_input
        if self.kind == "flip":
            return mirrored
        if self.kind == "tile2x":
            return detail_tile
        return partial(augmented, index=self.index, strength=self.strength, seed=self.seed)


def augmented_views(k: int, strength: str = "light", seed: int = 0) -> tuple[View, ...]:
    return tuple(View("aug", i, strength, seed) for i in range(k))


def view_cache(data_dir: Path, arch: str, pre: Preprocessing, view: View) -> EmbeddingCache:
    """The embedding cache of `view`: the served view's, or a sibling folder named after the view."""
    served = EmbeddingCache.for_backbone(data_dir, arch, pre)
    return served if not view.tag else EmbeddingCache(served.root.with_name(f"{served.root.name}-{view.tag}"))


# ---- loaders ----
def mirrored(photo: Photo, cfg: Preprocessing) -> np.ndarray:
    """The served input, mirrored left to right."""
    return np.ascontiguousarray(served_input(photo, cfg)[:, :, ::-1])


def most_textured_window(pixels: np.ndarray, size: int, stride: int | None = None) -> tuple[int, int]:
    """(top, left) of the `size` square with the most gradient energy (|dx| + |dy| of the grey
    image), tried every `stride` pixels; summed with an integral image."""
    grey = pixels.astype(np.float32).mean(2)
    energy = np.zeros_like(grey)
    energy[:, 1:] += np.abs(np.diff(grey, axis=1))
    energy[1:, :] += np.abs(np.diff(grey, axis=0))
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    h, w = grey.shape
    stride = stride or max(1, size // TILE_STRIDE)
    tops = np.unique(np.r_[np.arange(0, h - size + 1, stride), h - size])
    lefts = np.unique(np.r_[np.arange(0, w - size + 1, stride), w - size])
    t, l = np.meshgrid(tops, lefts, indexing="ij")
    sums = integral[t + size, l + size] - integral[t, l + size] - integral[t + size, l] + integral[t, l]
    best = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(t[best]), int(l[best])


def detail_tile(photo: Photo, cfg: Preprocessing, scale: float = TILE_SCALE) -> np.ndarray:
    """The most textured `input_size` square of the served field of view resampled at `scale`
    times the served resolution (a crop of a bigger rendering: carving marks, grain, glaze)."""
    big = replace(cfg, input_size=int(round(cfg.input_size * scale)))
    image = decode_image(photo.path, min_side=big.resize_size).image
    pixels = np.asarray(centre_crop_resize(image, big))
    top, left = most_textured_window(pixels, cfg.input_size)
    return normalise(np.ascontiguousarray(pixels[top:top + cfg.input_size, left:left + cfg.input_size]), cfg)


_pipelines = threading.local()  # albumentations pipelines hold their random state: one per thread


def augmented(photo: Photo, cfg: Preprocessing, index: int, strength: str = "light", seed: int = 0) -> np.ndarray:
    """Augmented view `index` of a photo (`train.augment`'s training pipeline), seeded by the
    photo's content hash, so the view is the same whichever process or order computes it."""
    from .augment import augment, sample_seed, train_transform

    key = (cfg, strength)
    cache = getattr(_pipelines, "by_key", None)
    if cache is None:
        cache = _pipelines.by_key = {}
    if key not in cache:
        cache[key] = train_transform(cfg, strength)
    image = decode_image(photo.path, min_side=cfg.resize_size).image
    return augment(cache[key], np.asarray(image), cfg, sample_seed(seed, index, int(photo.sha256[:8], 16)))
