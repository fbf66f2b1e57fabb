"""How long a quick update will take, said before it starts.

Why: a quick update reads (embeds) every photo once per backbone and keeps its features in
the data folder's embedding cache; from then on an update reads only the new photos and
takes seconds. On a fresh data folder - a new installation, a copied or emptied `data/` -
the first update must read every photo of the published model and of its out-of-catalogue
set once (3,232 photos for the default model): about a minute on a 2-core machine, not
seconds. Issue 17 saw a "Quick update (seconds)" take 42 s for that reason, unexplained.
`bench/update_estimate.py` compares the estimate with the real time, cold and warm.

* `estimate(base, data_dir, add, remove)` -> `Estimate`: photos in the update, how many were
  never read, and the seconds to expect at the speed measured on this computer.
* `record_speed(cache, photos, seconds)` / `seconds_per_photo(cache)` - the reading speed,
  kept beside the cache after each embedding run (a conservative default until measured).
* `record_fixed(cache, seconds)` / `fixed_seconds(cache)` - the rest of an update (fitting,
  out-of-fold calibration, writing), kept after each quick update in the same record.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from species_data.atomic import write_text_atomic
from species_data.dataset import Photo

from .bundle import Bundle
from .embeddings import EmbeddingCache

SPEED_FILE = "_speed.json"
# Until measured on this computer: about twice what bench/update_estimate.py measured on a
# shared 2-core EPYC (0.014-0.018 s a photo), so a slower laptop is not promised too much.
DEFAULT_SECONDS_PER_PHOTO = 0.03
FIXED_SECONDS = 4.0  # fitting, calibrating, writing and comparing, until measured: 1.4-3.2 s in bench/update_estimate.py
MIN_PHOTOS_TO_MEASURE = 32
REMEMBERED_PHOTOS = 1000  # the speed kept is a running mean over about this many photos read lately


@dataclass(frozen=True)
class Estimate:
    photos: int  # photos the candidate is built from (and the out-of-catalogue set)
    to_read: int  # of which never read on this computer (not in the embedding cache)
    seconds_per_photo: float
    measured: bool  # the speed was measured on this computer (else the default)
    fixed_seconds: float = FIXED_SECONDS  # the rest of the update: measured by the last one, else the default

    @property
    def seconds(self) -> float:
        return self.fixed_seconds + self.to_read * self.seconds_per_photo


def _record(cache: EmbeddingCache) -> dict:
    try:
        data = json.loads((cache.root / SPEED_FILE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(cache: EmbeddingCache, **fields) -> None:
    cache.root.mkdir(parents=True, exist_ok=True)
    write_text_atomic(cache.root / SPEED_FILE, json.dumps({**_record(cache), **fields}))


def seconds_per_photo(cache: EmbeddingCache) -> tuple[float, bool]:
    """(seconds per photo, measured here?) from the cache's speed record."""
    try:
        value = float(_record(cache)["seconds_per_photo"])
        if value > 0:
            return value, True
    except (ValueError, KeyError, TypeError):
        pass
    return DEFAULT_SECONDS_PER_PHOTO, False


def fixed_seconds(cache: EmbeddingCache) -> float:
    """Seconds of the last quick update spent on anything but reading photos (else the default)."""
    try:
        value = float(_record(cache)["fixed_seconds"])
        return value if value > 0 else FIXED_SECONDS
    except (ValueError, KeyError, TypeError):
        return FIXED_SECONDS


def record_fixed(cache: EmbeddingCache, seconds: float) -> None:
    """Keep what the last quick update spent besides reading photos, for the next estimate."""
    if seconds > 0:
        _save(cache, fixed_seconds=round(seconds, 2))


def record_speed(cache: EmbeddingCache, photos: int, seconds: float) -> None:
    """Fold a run that read enough photos to measure into the speed kept (written atomically):
    a mean weighted by photos, the earlier runs counting for at most REMEMBERED_PHOTOS, so a
    short run does not erase a long one and a changed machine shows through."""
    if photos < MIN_PHOTOS_TO_MEASURE or seconds <= 0:
        return
    before, measured = seconds_per_photo(cache)
    weight = 0
    if measured:
        try:
            weight = min(int(_record(cache)["photos"]), REMEMBERED_PHOTOS)
        except (ValueError, KeyError, TypeError):
            weight = 0
    speed = (before * weight + seconds) / (weight + photos)
    _save(cache, seconds_per_photo=round(speed, 5), photos=weight + photos)


def cached(cache: EmbeddingCache, shas: Iterable[str]) -> set[str]:
    """The content hashes whose features are in the cache (its pack or one file each)."""
    packed: set[str] = set()
    try:
        with np.load(cache.root / "_pack.npz") as z:
            packed = {str(s) for s in z["shas"]}
    except (OSError, KeyError, ValueError):
        pass
    return {s for s in shas if s in packed or cache.path(s).exists()}


def estimate(base: Bundle, data_dir: Path, add: Sequence[Photo] = (), remove: Iterable[str] = ()) -> Estimate:
    """What a quick update of `base` with `add`/`remove` will read, and how long it should take."""
    from .features import cache_for
    from .fit import ood_photos
    from .quick_update import _base_ood_folder, merge_photos, photos_from_manifest

    photos = list(merge_photos(photos_from_manifest(base.manifest()), add, remove).photos)
    tune, report = ood_photos(_base_ood_folder(base))
    photos += tune + report
    cache = cache_for(base, data_dir)
    shas = {p.sha256 for p in photos}
    speed, measured = seconds_per_photo(cache)
    return Estimate(len(shas), len(shas - cached(cache, shas)), speed, measured, fixed_seconds(cache))
