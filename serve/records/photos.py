"""Photo metadata: which stored photo (by content hash) shows which class, where it came
from, under which licence, and whether a trainer removed it from training (soft delete,
kept for the record). The bytes themselves live in `species_data.photo_store`."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from serve.records.checks import check_phash, check_sha256, check_text, hamming, now
from serve.records.database import Database
from serve.records.errors import AlreadyExists, NotFound
from serve.records.schema import PhotoMatch, PhotoRecord, PhotoRow


class PhotoRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add_photo(self, *, sha256: str, class_id: str, ext: str, width: int, height: int,
                  phash: str, uploader: str, source: str = "", licence: str = "",
                  credit: str = "") -> PhotoRecord:
        sha256 = check_sha256(sha256)
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            raise ValueError(f"photo size {width!r}x{height!r} is not a positive pixel size")
        row = PhotoRow(
            sha256=sha256, width=width, height=height, phash=check_phash(phash),
            class_id=check_text(class_id, "class_id", max_len=200, required=True),
            ext=check_text(ext, "ext", max_len=8, required=True).lower().lstrip("."),
            uploader=check_text(uploader, "uploader", max_len=64, required=True),
            source=check_text(source, "source", max_len=200),
            licence=check_text(licence, "licence", max_len=200),
            credit=check_text(credit, "credit", max_len=300), added_at=now(), removed=False)
        try:
            with self._db.writing() as s:
                old = s.get(PhotoRow, sha256)
                if old is not None:
                    raise AlreadyExists(f"photo {sha256[:12]}… is already in the catalogue as "
                                        f"{old.class_id!r}" + (" (removed)" if old.removed else ""))
                s.add(row)
                s.flush()
                return row.record()
        except IntegrityError:
            raise AlreadyExists(f"photo {sha256[:12]}… is already in the catalogue") from None

    def get_photo(self, sha256: str) -> PhotoRecord | None:
        with self._db.reading() as s:
            row = s.get(PhotoRow, check_sha256(sha256))
            return row.record() if row else None

    def photos_of(self, class_id: str, *, include_removed: bool = False) -> list[PhotoRecord]:
        return self._photos(PhotoRow.class_id == class_id, include_removed=include_removed)

    def all_photos(self, *, include_removed: bool = False) -> list[PhotoRecord]:
        return self._photos(include_removed=include_removed)

    def find_by_phash(self, phash: str, *, max_distance: int = 8,
                      include_removed: bool = False) -> list[PhotoMatch]:
        """Near-duplicates: photos whose perceptual hash (same length) is within
        `max_distance` bits, closest first. Scans hashes only (fine for ~10^5 photos)."""
        phash = check_phash(phash)
        q = select(PhotoRow.sha256, PhotoRow.phash)
        if not include_removed:
            q = q.where(PhotoRow.removed.is_(False))
        with self._db.reading() as s:
            near = {sha: hamming(phash, h) for sha, h in s.execute(q) if len(h) == len(phash)}
            near = {sha: d for sha, d in near.items() if d <= max_distance}
            rows = s.scalars(select(PhotoRow).where(PhotoRow.sha256.in_(list(near)))) if near else []
            matches = [PhotoMatch(r.record(), near[r.sha256]) for r in rows]
        return sorted(matches, key=lambda m: (m.distance, m.photo.sha256))

    def remove_photo(self, sha256: str, *, by: str, reason: str) -> PhotoRecord:
        """Soft delete (kept for the record, left out of training and listings)."""
        reason = check_text(reason, "reason", max_len=2000, required=True)
        return self._set_removed(sha256, True, by=by, reason=reason)

    def restore_photo(self, sha256: str, *, by: str) -> PhotoRecord:
        return self._set_removed(sha256, False, by=by, reason=None)

    def _set_removed(self, sha256: str, removed: bool, *, by: str,
                     reason: str | None) -> PhotoRecord:
        by = check_text(by, "by", max_len=64, required=True)
        with self._db.writing() as s:
            row = s.get(PhotoRow, check_sha256(sha256))
            if row is None:
                raise NotFound(f"no photo {sha256!r} in the catalogue")
            row.removed, row.removed_by, row.removed_reason = removed, by, reason
            row.removed_at = now() if removed else None
            return row.record()

    def _photos(self, *where: Any, include_removed: bool) -> list[PhotoRecord]:
        q = select(PhotoRow).where(*where).order_by(PhotoRow.added_at, PhotoRow.sha256)
        if not include_removed:
            q = q.where(PhotoRow.removed.is_(False))
        with self._db.reading() as s:
            return [r.record() for r in s.scalars(q)]
