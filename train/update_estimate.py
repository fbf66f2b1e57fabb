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
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from species_data.dataset import Photo

from .bundle import Bundle
from .embeddings import EmbeddingCache

SPEED_FILE = "_speed.json"
# Until measured on this computer: about twice what bench/update_estimate.py measured on a
# shared 2-core EPYC (0.014-0.018 s a photo), so a slower laptop is not promised too much.
DEFAULT_SECONDS_PER_PHOTO = 0.03
FIXED_SECONDS = 2.0  # fitting, calibrating, writing and comparing: 1.0-1.6 s in bench/update_estimate.py
MIN_PHOTOS_TO_MEASURE = 32
REMEMBERED_PHOTOS = 1000  # the speed kept is a running mean over about this many photos read lately


@dataclass(frozen=True)
class Estimate:
    photos: int  # photos the candidate is built from (and the out-of-catalogue set)
    to_read: int  # of which never read on this computer (not in the embedding cache)
    seconds_per_photo: float
    measured: bool  # the speed was measured on this computer (else the default)

    @property
    def seconds(self) -> float:
        return FIXED_SECONDS + self.to_read * self.seconds_per_photo


def seconds_per_photo(cache: EmbeddingCache) -> tuple[float, bool]:
    """(seconds per photo, measured here?) from the cache's speed record."""
    try:
        data = json.loads((cache.root / SPEED_FILE).read_text())
        value = float(data["seconds_per_photo"])
        if value > 0:
            return value, True
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return DEFAULT_SECONDS_PER_PHOTO, False


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
            weight = min(int(json.loads((cache.root / SPEED_FILE).read_text())["photos"]), REMEMBERED_PHOTOS)
        except (OSError, ValueError, KeyError, TypeError):
            weight = 0
    speed = (before * weight + seconds) / (weight + photos)
    cache.root.mkdir(parents=True, exist_ok=True)
    tmp = cache.root / f".{SPEED_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"seconds_per_photo": round(speed, 5), "photos": weight + photos}))
    os.replace(tmp, cache.root / SPEED_FILE)


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
    return Estimate(len(shas), len(shas - cached(cache, shas)), speed, measured)
