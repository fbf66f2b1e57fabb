"""Embedding cache: pooled backbone features stored per photo, keyed by content hash.

`data/embeddings/<arch>-<weights digest>-<input size>/<sha[:2]>/<sha>.npy`.
Re-running a fit after adding photos embeds only the new ones. A file that
cannot be decoded is skipped with its reason, never a crash.
"""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from species_data.dataset import Photo
from species_data.images import ImageDecodeError

from .backbone import spec, weights_digest
from .preprocess import Preprocessing, load_input

log = logging.getLogger(__name__)


def cache_key(arch: str, cfg: Preprocessing) -> str:
    return f"{arch}-{weights_digest(arch)}-{cfg.input_size}"


@dataclass
class EmbeddingCache:
    root: Path  # data/embeddings/<cache_key>

    @classmethod
    def for_backbone(cls, data_dir: Path, arch: str) -> "EmbeddingCache":
        return cls(Path(data_dir) / "embeddings" / cache_key(arch, spec(arch).preprocessing))

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.npy"

    def get(self, sha256: str) -> np.ndarray | None:
        path = self.path(sha256)
        return np.load(path) if path.exists() else None

    def put(self, sha256: str, vector: np.ndarray) -> None:
        path = self.path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, vector.astype(np.float32))
        os.replace(tmp, path)


class _Inputs(Dataset):
    def __init__(self, photos: Sequence[Photo], cfg: Preprocessing):
        self.photos, self.cfg = photos, cfg

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, i: int):
        photo = self.photos[i]
        try:
            array, _ = load_input(photo.path, self.cfg)
            return i, torch.from_numpy(array), ""
        except ImageDecodeError as err:
            return i, torch.zeros(3, self.cfg.input_size, self.cfg.input_size), err.reason


def _collate(batch):
    idx, arrays, errors = zip(*batch)
    return list(idx), torch.stack(arrays), list(errors)


@torch.inference_mode()
def embed_photos(
    photos: Sequence[Photo],
    backbone: torch.nn.Module,
    cfg: Preprocessing,
    cache: EmbeddingCache | None = None,
    batch_size: int = 32,
    workers: int = 1,
    progress: bool = True,
) -> tuple[np.ndarray, list[Photo], list[tuple[Photo, str]]]:
    """Features for `photos` (cached ones read, others computed and stored).

    Returns (features[n, d] for the usable photos, those photos, skipped (photo, reason)).
    """
    vectors: dict[int, np.ndarray] = {}
    todo: list[int] = []
    for i, photo in enumerate(photos):
        cached = cache.get(photo.sha256) if cache else None
        if cached is not None:
            vectors[i] = cached
        else:
            todo.append(i)
    skipped: list[tuple[Photo, str]] = []
    if todo:
        backbone.eval()
        loader = DataLoader(
            _Inputs([photos[i] for i in todo], cfg), batch_size=batch_size, num_workers=workers,
            collate_fn=_collate, persistent_workers=False,
        )
        bar = tqdm(total=len(todo), desc="embedding photos", unit="img", disable=not progress)
        for local_idx, batch, errors in loader:
            feats = backbone(batch.contiguous(memory_format=torch.channels_last)).float().numpy()
            for j, vec, err in zip(local_idx, feats, errors):
                photo = photos[todo[j]]
                if err:
                    skipped.append((photo, err))
                    log.warning("skipped %s: %s", photo.path, err)
                    continue
                vectors[todo[j]] = vec
                if cache:
                    cache.put(photo.sha256, vec)
            bar.update(len(local_idx))
        bar.close()
    kept = sorted(vectors)
    if not kept:
        return np.zeros((0, 0), np.float32), [], skipped
    return np.stack([vectors[i] for i in kept]), [photos[i] for i in kept], skipped
