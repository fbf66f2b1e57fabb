"""One way photos join the collection, whether a trainer uploads them in the app or adds
them in bulk from the command line (`python -m serve trainer add-photos`).

    batch = collect([("seahorse.zip", path), ...], IngestLimits())   # files, folders, zip archives
    gate = quality_gate(known, manifest_rows, phash_cache)          # duplicates, size, decodability
    verdicts = admit(batch.items, "seahorse", gate, photo_store, register)

`collect` reads every source once, in memory: a folder is walked for image files (hidden
ones skipped), a zip archive (`zipimport.is_zip`) is opened through the safe reader
(member, size and ratio limits; nothing is unpacked to disk), anything else is one file.
Members the archive reader skips become NOT_AN_IMAGE verdicts. Too many files or too many
bytes raise `IngestError` with a code a person's language can name (`trainer.upload.<code>`).
`admit` puts each photo the gate accepts into the content-addressed store and hands it to
`register` (the records database of the app); a photo `register` finds already recorded
(a race with another upload of the same file) is reported as a duplicate.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from .images import is_image_name
from .photo_store import PhotoStore, sniff_ext
from .quality import (DEFAULT_MAX_DISTANCE, DEFAULT_MIN_SIDE, KnownPhoto, PhashCache, QualityGate, UploadVerdict,
                      VerdictCode, known_from_manifest)
from .zipimport import MAX_FILES, MAX_TOTAL_BYTES, is_zip, iter_zip_images

# sha256, verdict (sizes, phash), file extension -> False when the photo was recorded already
Register = Callable[[str, UploadVerdict, str], bool]


class IngestError(ValueError):
    """An upload refused as a whole; `code` names it (too_many, too_big), `params` fill the message."""

    def __init__(self, code: str, message: str, **params) -> None:
        super().__init__(message)
        self.code, self.params = code, params


@dataclass(frozen=True)
class IngestLimits:
    max_files: int = MAX_FILES  # photos in one upload, archives' members included
    max_total_bytes: int = MAX_TOTAL_BYTES  # bytes of all photos in one upload

    @property
    def max_mb(self) -> int:
        return self.max_total_bytes // 2**20


@dataclass
class Collected:
    items: list[tuple[str, bytes]] = field(default_factory=list)  # (display name, bytes) of each photo
    skipped: list[UploadVerdict] = field(default_factory=list)  # archive members that are not photos


def _too_big(limits: IngestLimits) -> IngestError:
    return IngestError("too_big", f"the upload is larger than {limits.max_mb} MB; split it", limit=limits.max_mb)


def _files_of(name: str, path: Path) -> list[tuple[str, Path]]:
    """A source as (display name, file): a folder's image files, sorted, hidden ones left out."""
    if not path.is_dir():
        return [(name, path)]
    found = []
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path)
        if p.is_file() and is_image_name(p) and not any(part.startswith(".") for part in rel.parts):
            found.append((f"{name}/{rel.as_posix()}", p))
    return found


def collect(sources: Iterable[tuple[str, Path]], limits: IngestLimits = IngestLimits()) -> Collected:
    """Every photo of `sources` ((display name, path) of files, folders and zip archives)."""
    out = Collected()
    total = 0
    for name, path in (pair for source in sources for pair in _files_of(*source)):
        if path.stat().st_size > limits.max_total_bytes:
            raise _too_big(limits)
        if is_zip(path):
            def on_skip(member: str, why: str, archive: str = name) -> None:
                out.skipped.append(UploadVerdict(f"{archive}/{member}", VerdictCode.NOT_AN_IMAGE, False,
                                                 params={"reason": why}))
            members = iter_zip_images(path, max_files=limits.max_files, max_total_bytes=limits.max_total_bytes - total,
                                      on_skip=on_skip, name=name)
            new = [(f"{name}/{member}", data) for member, data in members]
        else:
            new = [(name, path.read_bytes())]
        out.items += new
        total += sum(len(data) for _, data in new)
        if len(out.items) > limits.max_files:
            raise IngestError("too_many", f"more than {limits.max_files} photos in one upload; split it",
                              limit=limits.max_files)
        if total > limits.max_total_bytes:
            raise _too_big(limits)
    return out


def quality_gate(known: Iterable[KnownPhoto], manifest_rows: Sequence[Mapping[str, str]] = (),
                 phash_cache: Path | None = None, min_side: int = DEFAULT_MIN_SIDE,
                 max_distance: int = DEFAULT_MAX_DISTANCE) -> QualityGate:
    """The gate for new photos: `known` (the store's photos, removed ones too) plus the
    photos a published model was trained on (its manifest rows, hashed once into the cache)."""
    everything = list(known)
    if manifest_rows:
        everything += known_from_manifest(manifest_rows, PhashCache(phash_cache) if phash_cache else None)
    return QualityGate(everything, min_side=min_side, max_distance=max_distance)


def admit(items: Iterable[tuple[str, bytes]], class_id: str, gate: QualityGate, photos: PhotoStore,
          register: Register) -> list[UploadVerdict]:
    """Gate each photo; accepted ones go to the store and to `register`, in order."""
    verdicts = []
    for name, data in items:
        v = gate.admit(name, data, class_id)
        if v.accepted:
            ext = sniff_ext(data)
            sha = photos.put(data, ext)
            if not register(sha, v, ext or "jpg"):
                v = replace(v, code=VerdictCode.DUPLICATE, accepted=False)
        verdicts.append(v)
    return verdicts
