"""Upload quality gate: which new photos may join a class, and why the others may not.

    gate = QualityGate(known_photos, min_side=96, max_distance=6)
    verdicts = gate.check_many([(name, data), ...])   # one UploadVerdict per file

A photo is refused when it cannot be decoded, is too small to be useful, is the
same file as a photo already known (SHA-256), or looks the same as one (perceptual
hash within `max_distance` bits). A duplicate of a photo filed under *another*
class is reported with that class: two labels for one picture is a labelling
conflict the trainer must settle, not a silent skip.

Photos accepted earlier in the same batch count as known, so a batch holding the
same photo twice keeps it once. Verdicts carry a code and parameters, never a
sentence: the app translates them (`serve/locales/<lang>/trainer.json`, keys
`trainer.verdict.<code>`). No torch, no web framework here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import imagehash
import numpy as np

from .atomic import write_text_atomic
from .images import ImageDecodeError, decode_image, read_bytes

DEFAULT_MIN_SIDE = 96  # px on the short side; the model looks at 224 px crops
DEFAULT_MAX_DISTANCE = 6  # bits of a 64-bit pHash: re-encoded / resized copies land under this
PHASH_SIZE = 8  # 8x8 DCT bits -> 16 hex digits
DECODE_SIDE = 256  # JPEGs are decoded at a reduced scale for hashing (same everywhere)


class VerdictCode(str, Enum):
    ACCEPTED = "accepted"
    NOT_AN_IMAGE = "not_an_image"  # params: reason (English phrase from the decoder)
    TOO_SMALL = "too_small"  # params: width, height, min_side
    DUPLICATE = "duplicate"  # same bytes as a photo of the same class
    DUPLICATE_OTHER_CLASS = "duplicate_other_class"  # same bytes, filed under another class
    NEAR_DUPLICATE = "near_duplicate"  # params: distance
    NEAR_DUPLICATE_OTHER_CLASS = "near_duplicate_other_class"  # params: distance
    PREVIOUSLY_REMOVED = "previously_removed"  # same bytes as a photo a trainer removed


@dataclass(frozen=True)
class KnownPhoto:
    """A photo already in the collection (training manifest or photo store)."""

    sha256: str
    label: str
    phash: str | None = None  # hex; None when not computed (exact check only)
    removed: bool = False


@dataclass(frozen=True)
class UploadVerdict:
    name: str
    code: VerdictCode
    accepted: bool
    sha256: str = ""
    phash: str = ""
    width: int = 0
    height: int = 0
    duplicate_of: tuple[str, str] | None = None  # (sha256, class) of the known photo
    format: str = ""  # "JPEG", "PNG", ...
    params: Mapping[str, object] = field(default_factory=dict)

    @property
    def other_class(self) -> str | None:
        """The class of the photo this one duplicates, when it is not the upload's class."""
        if self.code in (VerdictCode.DUPLICATE_OTHER_CLASS, VerdictCode.NEAR_DUPLICATE_OTHER_CLASS):
            return self.duplicate_of[1] if self.duplicate_of else None
        return None

    def message_params(self) -> dict[str, object]:
        """Everything a translated message may name: file, sizes, distance, other photo."""
        out: dict[str, object] = {"name": self.name, "width": self.width, "height": self.height}
        if self.duplicate_of:
            out.update(other_sha=self.duplicate_of[0][:12], other_class=self.duplicate_of[1])
        out.update(self.params)
        return out


def phash_hex(image) -> str:
    """64-bit perceptual hash of a PIL image, as 16 hex digits (what `Store.add_photo` stores)."""
    return str(imagehash.phash(image, hash_size=PHASH_SIZE))


def _to_int(h: str) -> int:
    return int(h, 16)


class QualityGate:
    def __init__(self, known: Iterable[KnownPhoto] = (), *, min_side: int = DEFAULT_MIN_SIDE,
                 max_distance: int = DEFAULT_MAX_DISTANCE) -> None:
        if min_side < 1:
            raise ValueError(f"min_side must be a positive number of pixels, got {min_side!r}")
        if not 0 <= max_distance < 64:
            raise ValueError(f"max_distance must be 0..63 bits, got {max_distance!r}")
        self.min_side = min_side
        self.max_distance = max_distance
        self._by_sha: dict[str, KnownPhoto] = {}
        self._hashes: list[int] = []
        self._hash_owner: list[KnownPhoto] = []
        self._array: np.ndarray | None = None
        for photo in known:
            self.add(photo)

    def add(self, photo: KnownPhoto) -> None:
        self._by_sha.setdefault(photo.sha256, photo)
        if photo.phash and not photo.removed and len(photo.phash) == 2 * PHASH_SIZE**2 // 8:
            self._hashes.append(_to_int(photo.phash))
            self._hash_owner.append(photo)
            self._array = None

    def __len__(self) -> int:
        return len(self._by_sha)

    def nearest(self, phash: str) -> tuple[KnownPhoto, int] | None:
        """The known photo with the closest perceptual hash and the distance in bits."""
        if not self._hashes:
            return None
        if self._array is None:
            self._array = np.array(self._hashes, dtype=np.uint64)
        dist = np.bitwise_count(self._array ^ np.uint64(_to_int(phash)))
        i = int(dist.argmin())
        return self._hash_owner[i], int(dist[i])

    def check(self, name: str, data: bytes | Path, label: str) -> UploadVerdict:
        """Verdict for one file meant for class `label` (not remembered: see `admit`)."""
        try:
            raw, _ = read_bytes(data, name)
            decoded = decode_image(raw, name=name, min_side=DECODE_SIDE)
        except ImageDecodeError as err:
            return UploadVerdict(name, VerdictCode.NOT_AN_IMAGE, False, params={"reason": err.reason})
        sha = decoded.sha256
        width, height = decoded.original_size
        base = dict(name=name, sha256=sha, width=width, height=height, format=decoded.format)
        known = self._by_sha.get(sha)
        if known is not None:
            code = (VerdictCode.PREVIOUSLY_REMOVED if known.removed else
                    VerdictCode.DUPLICATE if known.label == label else VerdictCode.DUPLICATE_OTHER_CLASS)
            return UploadVerdict(code=code, accepted=False, phash=known.phash or "",
                                 duplicate_of=(known.sha256, known.label), **base)
        if min(width, height) < self.min_side:
            return UploadVerdict(code=VerdictCode.TOO_SMALL, accepted=False,
                                 params={"min_side": self.min_side}, **base)
        phash = phash_hex(decoded.image)
        near = self.nearest(phash)
        if near is not None and near[1] <= self.max_distance:
            other, distance = near
            code = VerdictCode.NEAR_DUPLICATE if other.label == label else VerdictCode.NEAR_DUPLICATE_OTHER_CLASS
            return UploadVerdict(code=code, accepted=False, phash=phash, duplicate_of=(other.sha256, other.label),
                                 params={"distance": distance, "max_distance": self.max_distance}, **base)
        return UploadVerdict(code=VerdictCode.ACCEPTED, accepted=True, phash=phash, **base)

    def admit(self, name: str, data: bytes | Path, label: str) -> UploadVerdict:
        """`check`, and remember an accepted photo so a later copy in the batch is caught."""
        verdict = self.check(name, data, label)
        if verdict.accepted:
            self.add(KnownPhoto(verdict.sha256, label, verdict.phash))
        return verdict

    def check_many(self, items: Iterable[tuple[str, bytes | Path]], label: str) -> list[UploadVerdict]:
        return [self.admit(name, data, label) for name, data in items]


def summarise(verdicts: Sequence[UploadVerdict]) -> dict[str, int]:
    """Files per verdict code, e.g. {'accepted': 18, 'too_small': 2}."""
    out: dict[str, int] = {}
    for v in verdicts:
        out[v.code.value] = out.get(v.code.value, 0) + 1
    return out


# --- perceptual hashes of photos already on disk (cached) ------------------------------

def phash_file(path: Path | str) -> str | None:
    """pHash of an image file, None if it does not decode."""
    try:
        return phash_hex(decode_image(path, min_side=DECODE_SIDE).image)
    except ImageDecodeError:
        return None


class PhashCache:
    """sha256 -> pHash for photos on disk, in one JSON file (e.g. data/phash.json).

    Hashing the ~3,000 training photos takes seconds once; later uploads read the file.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._data: dict[str, str | None] = {}
        if self.path.is_file():
            try:
                self._data = dict(json.loads(self.path.read_text(encoding="utf-8")))
            except (ValueError, OSError):
                self._data = {}  # a damaged cache is rebuilt, never trusted

    def get_many(self, photos: Iterable[tuple[str, Path]]) -> dict[str, str | None]:
        """pHash for each (sha256, path); computes and stores the missing ones."""
        out, changed = {}, False
        for sha, path in photos:
            if sha not in self._data:
                self._data[sha] = phash_file(path)
                changed = True
            out[sha] = self._data[sha]
        if changed:
            self._save()
        return out

    def _save(self) -> None:
        write_text_atomic(self.path, json.dumps(self._data), durable=False)  # a cache: rebuilt if lost


def known_from_manifest(rows: Iterable[Mapping[str, str]], cache: PhashCache | None = None) -> list[KnownPhoto]:
    """KnownPhotos from a bundle manifest (`Bundle.manifest()` rows: sha256, label, path)."""
    rows = list(rows)
    hashes = cache.get_many((r["sha256"], Path(r["path"])) for r in rows) if cache else {}
    return [KnownPhoto(r["sha256"], r["label"], hashes.get(r["sha256"])) for r in rows]
