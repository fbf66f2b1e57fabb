"""Features of photos under a bundle's backbone: which embedding cache, and fast reads from it.

* `cache_for(bundle, data_dir)`: head-mode bundles keep the frozen ImageNet backbone of the
  weight package, so they share `EmbeddingCache.for_backbone`; a bundle whose backbone was
  fine-tuned gets a cache keyed by a digest of its backbone weights (its features differ).
* `features_of(...)`: cached vectors first, from `_pack.npz` (all vectors of a cache in one
  file: one read instead of thousands), then the per-photo files, then the network for the
  rest. The per-photo files stay the source of truth; the pack is only a faster copy.
* `cached_features(...)`: the same without a network (None when a photo was never embedded).
* `embedder_for(bundle)`: the network that computes missing vectors. A bundle's own ONNX
  export when it has one (its `features` output is the backbone; ONNX Runtime is 2-4x
  faster than eager torch for a handful of photos and needs no export of its own), else
  the torch backbone from the bundle's weights.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from species_data.atomic import atomic_write
from species_data.dataset import Photo

from .bundle import Bundle
from .config import TrainingMode
from .embeddings import EmbeddingCache, decoded_batches, preprocessing_tag
from .weights import load_arrays, to_numpy

Embedder = Callable[[np.ndarray], np.ndarray]  # (n, 3, S, S) float32 -> (n, d) features

PACK = "_pack.npz"


def backbone_digest(state: Mapping[str, Any]) -> str:
    """A short digest of the backbone weights (torch tensors or numpy arrays)."""
    h = hashlib.sha256()
    for key in sorted(k for k in state if k.startswith("backbone.")):
        h.update(key.encode())
        h.update(to_numpy(state[key]).tobytes())
    return h.hexdigest()[:12]


def backbone_id(bundle: Bundle, state: Mapping[str, Any] | None = None) -> str:
    """"package" for the frozen ImageNet backbone of head-mode bundles, else a digest of the weights.

    A bundle may name it in `training.backbone` (quick updates copy their base's)."""
    training = bundle.meta.training
    if training.backbone:
        return training.backbone
    if training.mode is TrainingMode.HEAD:
        return "package"
    if state is None:
        state = load_arrays(bundle.weights_path)
    return f"sha-{backbone_digest(state)}"


def cache_for(bundle: Bundle, data_dir: Path, state: Mapping[str, Any] | None = None) -> EmbeddingCache:
    ident = backbone_id(bundle, state)
    if ident == "package":
        return EmbeddingCache.for_backbone(Path(data_dir), bundle.meta.arch, bundle.meta.preprocessing)
    tag = preprocessing_tag(bundle.meta.preprocessing)
    return EmbeddingCache(Path(data_dir) / "embeddings" / f"{bundle.meta.arch}-{ident}-{tag}")


def _read_pack(cache: EmbeddingCache) -> tuple[dict[str, int], np.ndarray]:
    try:
        with np.load(cache.root / PACK) as z:
            shas, feats = [str(s) for s in z["shas"]], z["features"]
        return {s: i for i, s in enumerate(shas)}, feats
    except (OSError, KeyError, ValueError):
        return {}, np.zeros((0, 0), np.float32)


def _write_pack(cache: EmbeddingCache, index: dict[str, int], packed: np.ndarray,
                extra: dict[str, np.ndarray]) -> None:
    """Old pack + new vectors, written to a temp file and renamed (a lost race only costs speed)."""
    shas = list(index) + [s for s in extra if s not in index]
    rows = [packed[index[s]] for s in index] + [extra[s] for s in extra if s not in index]
    with atomic_write(cache.root / PACK, "wb", durable=False) as fh:  # a faster copy of the cache
        np.savez(fh, shas=np.array(shas), features=np.stack(rows).astype(np.float32))


def cached_features(photos: Sequence[Photo], cache: EmbeddingCache) -> np.ndarray | None:
    """Features of every photo from the cache, or None if any was never embedded."""
    index, packed = _read_pack(cache)
    rows = []
    for p in photos:
        if p.sha256 in index:
            rows.append(packed[index[p.sha256]])
        else:
            vec = cache.get(p.sha256)
            if vec is None:
                return None
            rows.append(vec)
    return np.stack(rows) if rows else np.zeros((0, 0), np.float32)


def embedder_for(bundle: Bundle, state: Mapping[str, Any] | None = None, backend: str = "auto") -> Embedder:
    """Backbone features with `bundle`'s own weights: its ONNX export if present, else torch."""
    if backend in ("auto", "onnx") and bundle.onnx_path.exists():
        from .runtime import ModelRunner

        runner = ModelRunner(bundle, "onnx")
        return lambda batch: runner.run(batch).features
    import torch

    from .model import SpeciesClassifier

    if state is None:
        state = bundle.state_dict()
    model = SpeciesClassifier(bundle.meta.arch, state["head.weight"].shape[0])
    model.load_state_dict({k: torch.as_tensor(to_numpy(v)) for k, v in state.items()}, strict=True)
    backbone = model.backbone.eval()

    @torch.inference_mode()
    def forward(batch: np.ndarray) -> np.ndarray:
        return backbone(torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)).float().numpy()
    return forward


def embed(photos: Sequence[Photo], embedder: Embedder, preprocessing, cache: EmbeddingCache | None,
          batch_size: int = 32, workers: int = 1, progress: Callable[[int, int], None] | None = None):
    """(features, kept photos, skipped (photo, reason)) for `photos`, all computed now (and cached).
    Decoding runs `workers` threads ahead of the network (both release the GIL); `progress(done,
    total)` is called after each batch."""
    vectors, skipped, done = {}, [], 0
    for idx, batch, reasons in decoded_batches(photos, preprocessing, batch_size, workers):
        feats = embedder(batch)
        done += len(idx)
        if progress is not None:
            progress(done, len(photos))
        for j, vec, reason in zip(idx, feats, reasons):
            if reason:
                skipped.append((photos[j], reason))
                continue
            vectors[j] = np.asarray(vec, np.float32)
            if cache is not None:
                cache.put(photos[j].sha256, vectors[j])
    kept = sorted(vectors)
    feats = np.stack([vectors[j] for j in kept]) if kept else np.zeros((0, 0), np.float32)
    return feats, [photos[j] for j in kept], skipped


def features_of(photos: Sequence[Photo], make_embedder: Callable[[], Embedder], preprocessing,
                cache: EmbeddingCache, batch_size: int = 32, workers: int = 1,
                progress: Callable[[int, int], None] | None = None):
    """(features, kept photos, skipped (photo, reason), how many photos were embedded now).

    `make_embedder()` builds the network, only when some photo was never embedded; `progress`
    follows the photos being embedded, whose speed is kept for the next estimate
    (`train.update_estimate`)."""
    index, packed = _read_pack(cache)
    found = {p.sha256: packed[index[p.sha256]] for p in photos if p.sha256 in index}
    missing = []
    for p in photos:
        if p.sha256 not in found:
            vec = cache.get(p.sha256)
            if vec is None:
                missing.append(p)
            else:
                found[p.sha256] = vec
    skipped: list = []
    extra = {s: found[s] for s in found if s not in index}
    embedded = 0
    if missing:
        from .update_estimate import record_speed

        embedder = make_embedder()
        started = time.perf_counter()
        f_new, kept_new, skipped = embed(missing, embedder, preprocessing, cache, batch_size, workers, progress)
        record_speed(cache, len(missing), time.perf_counter() - started)
        extra.update({p.sha256: f for p, f in zip(kept_new, f_new)})
        found.update(extra)
        embedded = len(kept_new)
    if extra:
        _write_pack(cache, index, packed, extra)
    kept = [p for p in photos if p.sha256 in found]
    feats = np.stack([found[p.sha256] for p in kept]) if kept else np.zeros((0, 0), np.float32)
    return feats, kept, skipped, embedded
