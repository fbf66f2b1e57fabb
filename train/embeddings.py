"""Embedding cache: pooled backbone features stored per photo, keyed by content hash.

`data/embeddings/<arch>-<weights digest>-<size>-crop<crop>/<sha[:2]>/<sha>.npy`.
Re-running a fit after adding photos embeds only the new ones. A file that
cannot be decoded is skipped with its reason, never a crash.

Many photos go through ONNX Runtime: the backbone is exported once per call (and
checked against torch), and one lane per core decodes its own batch and runs it
through a single-thread session. A few photos go through eager torch, where the
export would cost more than it saves, with a decode thread pool a couple of batches
ahead (bench/embedding_throughput.py). Pillow releases the GIL while decoding.
"""
from __future__ import annotations

import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from species_data.atomic import atomic_write
from species_data.dataset import Photo
from species_data.images import ImageDecodeError

from .backbone import spec, weights_digest
from .preprocess import Preprocessing, load_input

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# From this many photos to embed, exporting the backbone to ONNX Runtime pays for itself.
ONNX_MIN_PHOTOS = 256
ENGINES = ("auto", "onnx", "torch")
_MEMO_MAX = 16384  # vectors kept in memory per cache object (~80 MB at 1280 floats)
_NPY_F4 = b"{'descr': '<f4', 'fortran_order': False, 'shape': ("


def preprocessing_tag(cfg: Preprocessing) -> str:
    """What in the preprocessing changes a photo's features: size, crop and resampling
    (mean and std belong to the backbone)."""
    tag = f"{cfg.input_size}-crop{cfg.crop_pct:g}"
    return tag if cfg.interpolation == "bicubic" else f"{tag}-{cfg.interpolation}"


def cache_key(arch: str, cfg: Preprocessing) -> str:
    return f"{arch}-{weights_digest(arch)}-{preprocessing_tag(cfg)}"


def _adopt_legacy_cache(root: Path, arch: str, cfg: Preprocessing) -> None:
    """Caches written before the key named the crop (`<arch>-<digest>-<size>`) were all made
    with the backbone's own crop and bicubic resampling: such a folder is renamed once."""
    default = spec(arch).preprocessing
    if root.exists() or cfg.crop_pct != default.crop_pct or cfg.interpolation != default.interpolation:
        return
    legacy = root.parent / f"{arch}-{weights_digest(arch)}-{cfg.input_size}"
    if legacy.is_dir():
        try:
            os.rename(legacy, root)
        except OSError:  # another process adopted it first, or it is not ours to move
            pass


@dataclass
class EmbeddingCache:
    root: Path  # data/embeddings/<cache_key>: backbone weights and preprocessing
    # vectors already read or written by this object (content-addressed, so never stale)
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def for_backbone(cls, data_dir: Path, arch: str, preprocessing: Preprocessing | None = None) -> "EmbeddingCache":
        """The cache of the weight package's backbone under `preprocessing` (default: its own)."""
        pre = preprocessing or spec(arch).preprocessing
        root = Path(data_dir) / "embeddings" / cache_key(arch, pre)
        _adopt_legacy_cache(root, arch, pre)
        return cls(root)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.npy"

    def get(self, sha256: str) -> np.ndarray | None:
        """The cached vector (read-only), or None. One open() and no header parsing for
        the files `put` writes, ~4x faster than np.load; anything else goes to np.load."""
        vector = self._memo.get(sha256)
        if vector is not None:
            return vector
        path = self.path(sha256)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        vector = _parse_npy(data)
        if vector is None:
            try:
                vector = np.load(path)
            except (ValueError, OSError, EOFError) as err:
                # A cache file cut short (power loss before the page cache reached disk)
                # is not an error of the photo: drop it, and the photo is embedded again.
                log.warning("dropping unreadable cache file %s (%s)", path, err)
                path.unlink(missing_ok=True)
                return None
        vector.setflags(write=False)
        self._remember(sha256, vector)
        return vector

    def put(self, sha256: str, vector: np.ndarray) -> None:
        path = self.path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        vector = np.array(vector, dtype=np.float32)
        with atomic_write(path, "wb", durable=False) as fh:  # a cache: recomputed if a crash loses it
            np.save(fh, vector)
        vector.setflags(write=False)
        self._remember(sha256, vector)

    def _remember(self, sha256: str, vector: np.ndarray) -> None:
        if len(self._memo) < _MEMO_MAX:
            self._memo[sha256] = vector


def _parse_npy(data: bytes) -> np.ndarray | None:
    """A version-1 .npy of little-endian float32 in C order (what `put` writes), else None."""
    if len(data) < 10 or data[:6] != b"\x93NUMPY" or data[6] != 1:
        return None
    end = 10 + int.from_bytes(data[8:10], "little")
    header = data[10:end]
    if not header.startswith(_NPY_F4):
        return None
    try:
        shape = tuple(int(x) for x in header[len(_NPY_F4):header.index(b")")].split(b",") if x.strip())
        count = int(np.prod(shape, dtype=np.int64))
        if len(data) - end != 4 * count:
            return None
        return np.frombuffer(data, np.float32, count=count, offset=end).reshape(shape)
    except ValueError:
        return None


Loader = Callable[[Photo, Preprocessing], np.ndarray]  # photo -> (3, S, S) model input


def served_input(photo: Photo, cfg: Preprocessing) -> np.ndarray:
    """What serving feeds the network: THE preprocessing path (`train.preprocess.load_input`).
    Other views of a photo (mirrored, a detail tile, augmented) are in `train.views`."""
    return load_input(photo.path, cfg)[0]


def _decode(photo: Photo, cfg: Preprocessing, loader: Loader = served_input) -> tuple[np.ndarray | None, str]:
    try:
        return loader(photo, cfg), ""
    except ImageDecodeError as err:
        return None, err.reason


def decoded_batches(photos: Sequence[Photo], cfg: Preprocessing, batch_size: int,
                    workers: int, loader: Loader = served_input) -> Iterator[tuple[list[int], np.ndarray, list[str]]]:
    """(indices, (n, 3, S, S) batch, reasons) per batch; reason "" = decoded. A photo that
    fails to decode is a zero image with its reason. `workers` decode threads (0: inline),
    up to two batches ahead of the consumer. `loader`: which view of a photo (default: the
    served one)."""
    size = cfg.input_size
    starts = list(range(0, len(photos), batch_size))

    def assemble(start: int, results) -> tuple[list[int], np.ndarray, list[str]]:
        idx = list(range(start, min(start + batch_size, len(photos))))
        batch = np.zeros((len(idx), 3, size, size), np.float32)
        reasons = []
        for j, (array, reason) in enumerate(results):
            if array is not None:
                batch[j] = array
            reasons.append(reason)
        return idx, batch, reasons

    if workers <= 0:
        for start in starts:
            yield assemble(start, [_decode(p, cfg, loader) for p in photos[start:start + batch_size]])
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed-decode") as pool:
        def submit(start: int):
            return [pool.submit(_decode, p, cfg, loader) for p in photos[start:start + batch_size]]

        pending = [submit(s) for s in starts[:2]]
        for k, start in enumerate(starts):
            futures = pending.pop(0)
            if k + 2 < len(starts):
                pending.append(submit(starts[k + 2]))
            yield assemble(start, [f.result() for f in futures])


def _torch_forward(backbone: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    @torch.inference_mode()
    def forward(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)
        return backbone(x).float().numpy()
    return forward


def _onnx_forward(backbone: torch.nn.Module, cfg: Preprocessing, folder: Path):
    """The backbone exported to a single-thread ONNX Runtime session (checked against
    torch), or None if that fails. One session serves every lane: runs are thread-safe."""
    try:
        import onnxruntime as ort

        from .export import export_onnx
        from .runtime import session_options

        path = export_onnx(backbone, cfg.input_size, folder / "backbone.onnx", outputs=("features",))
        session = ort.InferenceSession(str(path), session_options(1), providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - any export problem: eager torch still works
        log.warning("embedding with eager torch: ONNX export failed (%s)", err)
        return None

    def forward(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {"input": batch})[0]
    return forward


def _lanes(photos: Sequence[Photo], cfg: Preprocessing, batch_size: int, forward, lanes: int,
           loader: Loader = served_input):
    """One lane per core: each decodes its own batch and runs it through the single-thread
    session, so the cores never wait on each other. Yields like `decoded_batches`, with
    features in place of the pixels, in order."""
    def lane(start: int):
        idx = list(range(start, min(start + batch_size, len(photos))))
        arrays, reasons = zip(*(_decode(photos[i], cfg, loader) for i in idx))
        size = cfg.input_size
        batch = np.stack([a if a is not None else np.zeros((3, size, size), np.float32) for a in arrays])
        return idx, forward(batch), list(reasons)

    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="embed-lane") as pool:
        yield from pool.map(lane, range(0, len(photos), batch_size))


def embed_photos(
    photos: Sequence[Photo],
    backbone: torch.nn.Module | Callable[[], torch.nn.Module],
    cfg: Preprocessing,
    cache: EmbeddingCache | None = None,
    batch_size: int = 32,
    workers: int = 1,
    progress: bool = True,
    engine: str = "auto",
    loader: Loader = served_input,
) -> tuple[np.ndarray, list[Photo], list[tuple[Photo, str]]]:
    """Features for `photos` (cached ones read, others computed and stored).

    `backbone`: the network, or a function that builds it (called only if some photo needs it).
    `workers`: eager torch only, decode threads besides the network (0: decode inline; at
    least two when there are many photos); ONNX Runtime uses one lane per core.
    `engine`: "onnx", "torch" or "auto" (ONNX Runtime from `ONNX_MIN_PHOTOS` photos).
    `loader`: which view of each photo the network sees (`served_input`; `train.views`);
    `cache` must be that view's own.
    Returns (features[n, d] for the usable photos, those photos, skipped (photo, reason)).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
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
        import torch  # here: a fit whose photos are all cached never loads it

        if not isinstance(backbone, torch.nn.Module):  # built only now that a photo needs it
            backbone = backbone()
        backbone.eval()
        many = len(todo) >= ONNX_MIN_PHOTOS
        pending = [photos[i] for i in todo]
        with tempfile.TemporaryDirectory(prefix="embed-onnx-") as tmp:
            onnx_forward = None
            if engine == "onnx" or (engine == "auto" and many):
                onnx_forward = _onnx_forward(backbone, cfg, Path(tmp))
            if onnx_forward is not None:
                results = _lanes(pending, cfg, batch_size, onnx_forward, max(1, os.cpu_count() or 1), loader)
            else:
                forward = _torch_forward(backbone)
                threads = max(workers, 2) if many else workers
                results = ((idx, forward(batch), errors)
                           for idx, batch, errors in decoded_batches(pending, cfg, batch_size, threads, loader))
            bar = tqdm(total=len(todo), desc="embedding photos", unit="img", disable=not progress)
            for local_idx, feats, errors in results:
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
