"""Trainer photos into the app's records: the one path the Trainer tab's upload,
`python -m serve trainer add-photos` and the review of confirmed seizure photos share.

`species_data.ingest` reads the files (folders, zip archives) and gates them; this module
adds what only the serving side has: the photos already on record (the records database,
removed ones too, and the published model's training photos) and the record of each
accepted photo with its provenance, plus one audit entry per upload.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from species_data.ingest import Collected, Register, admit, quality_gate
from species_data.photo_store import PhotoStore
from species_data.quality import (DEFAULT_MAX_DISTANCE, DEFAULT_MIN_SIDE, KnownPhoto, QualityGate, UploadVerdict,
                                  summarise)

from serve.records.store import AlreadyExists, Store


@dataclass(frozen=True)
class Provenance:
    uploader: str
    source: str
    licence: str
    credit: str = ""

    def __post_init__(self) -> None:
        for name in ("uploader", "source", "licence"):
            if not getattr(self, name).strip():
                raise ValueError(f"photo provenance needs a {name}; say where the photos come from and under "
                                 "which licence")


def gate_for(store: Store, published, data_dir: Path, min_side: int = DEFAULT_MIN_SIDE,
             max_distance: int = DEFAULT_MAX_DISTANCE) -> QualityGate:
    """The quality gate against every photo on record and the published model's (`published`:
    a `train.bundle.Bundle` or None)."""
    known = [KnownPhoto(p.sha256, p.class_id, p.phash, p.removed) for p in store.all_photos(include_removed=True)]
    rows = published.manifest() if published is not None else []
    return quality_gate(known, rows, Path(data_dir) / "phash.json", min_side, max_distance)


def recorder(store: Store, class_id: str, provenance: Provenance) -> Register:
    """What `species_data.ingest.admit` calls for each accepted photo: its record, with its
    provenance; False when the photo was recorded first by someone else (a race)."""

    def register(sha: str, v: UploadVerdict, ext: str) -> bool:
        try:
            store.add_photo(sha256=sha, class_id=class_id, ext=ext, width=v.width, height=v.height, phash=v.phash,
                            uploader=provenance.uploader, source=provenance.source.strip(),
                            licence=provenance.licence.strip(), credit=provenance.credit.strip())
        except AlreadyExists:  # raced with another upload of the same file
            return False
        return True

    return register


def add_photos(store: Store, photos: PhotoStore, batch: Collected, class_id: str, provenance: Provenance,
               gate: QualityGate) -> list[UploadVerdict]:
    """Gate `batch`, store and record the accepted photos, audit the upload; one verdict per
    photo (archive members that are not photos first)."""
    verdicts = list(batch.skipped) + admit(batch.items, class_id, gate, photos, recorder(store, class_id, provenance))
    store.audit(provenance.uploader, "trainer_upload", {
        "class_id": class_id, "accepted": [v.sha256 for v in verdicts if v.accepted],
        "verdicts": summarise(verdicts), "source": provenance.source.strip(), "licence": provenance.licence.strip()})
    return verdicts
