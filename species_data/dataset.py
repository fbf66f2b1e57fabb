"""Photo collections: folder-per-class roots in, a deduplicated, split manifest out.

The split of a photo is a pure function of its content hash, so adding photos
never moves an old photo between train, validation and test, and every class is
split by the same proportions (stratified in expectation; `split_counts` shows
the realised numbers).
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Iterable, Sequence

from .images import content_hash, is_image_name

log = logging.getLogger(__name__)

VAL_FRACTION = 0.15
TEST_FRACTION = 0.15


class Split(str, Enum):
    TRAIN = "train"
    VAL = "val"
    TEST = "test"


def split_of(sha256: str, val: float = VAL_FRACTION, test: float = TEST_FRACTION) -> Split:
    """Deterministic split from the content hash (uniform in [0, 1) from its first 8 bytes)."""
    u = int(sha256[:16], 16) / 16**16
    if u < test:
        return Split.TEST
    if u < test + val:
        return Split.VAL
    return Split.TRAIN


@dataclass(frozen=True)
class Photo:
    path: Path
    label: str
    sha256: str
    split: Split
    source: str = ""  # provenance when a manifest names it (used for held-out-source checks)


@dataclass(frozen=True)
class PhotoSet:
    photos: tuple[Photo, ...]
    labels: tuple[str, ...]  # sorted class ids
    skipped: tuple[tuple[str, str], ...]  # (path, reason)

    def of(self, split: Split) -> tuple[Photo, ...]:
        return tuple(p for p in self.photos if p.split is split)

    def counts(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {label: {s.value: 0 for s in Split} for label in self.labels}
        for p in self.photos:
            table[p.label][p.split.value] += 1
        return table

    def manifest_hash(self) -> str:
        """Hash of (label, content hash) pairs: which data a model was trained on."""
        lines = sorted(f"{p.label}\t{p.sha256}" for p in self.photos)
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]

    def sources(self) -> dict[str, int]:
        return dict(Counter(p.source for p in self.photos if p.source))


def _manifest_sources(root: Path) -> dict[str, str]:
    """path-relative-to-root -> source, from a MANIFEST.csv beside the class folders (optional)."""
    manifest = root / "MANIFEST.csv"
    if not manifest.exists():
        return {}
    import csv

    with manifest.open(newline="", encoding="utf-8") as fh:
        return {row["path"]: row.get("source_repo", "") for row in csv.DictReader(fh) if "path" in row}


def scan(roots: Sequence[Path | str], classes: Iterable[str] | None = None) -> PhotoSet:
    """Walk `<root>/<class_id>/<image>` folders; exact duplicates are kept once.

    `classes` restricts to those ids. A file whose extension is not an image's is
    skipped with a reason; decodability is checked where pixels are read
    (embedding, training), which records its own skips.
    """
    wanted = set(classes) if classes is not None else None
    photos: dict[str, Photo] = {}
    skipped: list[tuple[str, str]] = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise FileNotFoundError(f"photo folder {str(root)!r} does not exist; pass a folder of <class_id>/<image> folders")
        sources = _manifest_sources(root)
        for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if wanted is not None and class_dir.name not in wanted:
                continue
            for path in sorted(class_dir.rglob("*")):
                if not path.is_file():
                    continue
                if not is_image_name(path):
                    skipped.append((str(path), "not an image file extension"))
                    continue
                digest = content_hash(path.read_bytes())
                if digest in photos:
                    first = photos[digest]
                    if first.label != class_dir.name:
                        skipped.append((str(path), f"same photo as {first.path} labelled {first.label!r}; kept once"))
                    continue
                rel = str(path.relative_to(root))
                photos[digest] = Photo(path, class_dir.name, digest, split_of(digest), sources.get(rel, ""))
    for path, reason in skipped:
        log.info("skipped %s: %s", path, reason)
    ordered = tuple(sorted(photos.values(), key=lambda p: (p.label, p.sha256)))
    labels = tuple(sorted({p.label for p in ordered}))
    if not labels:
        raise ValueError(f"no photos found under {', '.join(map(str, roots))}; expected <class_id>/<image> folders")
    return PhotoSet(ordered, labels, tuple(skipped))


def describe(photo_set: PhotoSet) -> str:
    return json.dumps(photo_set.counts(), indent=1)
