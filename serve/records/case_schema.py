"""The seizure record (a "case"): its tables and the typed record callers get.

A case is what one officer logged about one commodity in one shipment: the action taken,
the model's tentative answer for the first photo, the seizure fields
(`serve.records.seizure.Seizure`), its photos (several, each stored once by content hash
in the photo store; `case_photos` only lists them), and, later, an expert's or
laboratory's confirmation. Confirmed photos wait in the trainer's review queue
(`PhotoReview`) before they may teach the model anything.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (JSON, Date, Float, ForeignKey, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from serve.records.columns import NAME, Base, UTCDateTime, enum_column
from serve.records.seizure import (Concealment, Confirmation, ConfirmationMethod, DetectionMethod,
                                   Direction, Seizure, TransportMode, Unit)


class CaseAction(StrEnum):
    """What the officer did with the shipment."""

    RELEASED = "released"
    DETAINED = "detained"
    REFERRED = "referred"


class PhotoReview(StrEnum):
    """A case photo's way into the training photos, decided by a trainer."""

    PENDING = "pending"
    ACCEPTED = "accepted"  # passed the quality gate, now a training photo of the confirmed class
    REJECTED = "rejected"  # refused by the trainer or by the quality gate (see the note)


@dataclass(frozen=True)
class CasePhoto:
    sha256: str
    review: PhotoReview
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str


@dataclass(frozen=True)
class Case:
    id: int
    created_at: datetime
    officer: str
    shipment_ref: str
    note: str
    action: CaseAction
    model_version: str
    prediction: dict[str, Any]
    label: str  # the model's tentative answer: an entry, a group, or "unknown"
    decision: str  # identified, group or unknown
    seizure: Seizure
    photos: tuple[CasePhoto, ...]
    confirmation: Confirmation | None
    updated_at: datetime | None
    updated_by: str | None

    @property
    def photo_hashes(self) -> tuple[str, ...]:
        return tuple(p.sha256 for p in self.photos)

    @property
    def day(self) -> date:
        """The seizure date (the day it was logged, when none was given)."""
        return self.seizure.seizure_date or self.created_at.date()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, flat, in `docs/seizure_schema.md`'s order and names."""
        out: dict[str, Any] = {
            "id": self.id, "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "updated_by": self.updated_by, "officer": self.officer,
            "shipment_ref": self.shipment_ref, "action": self.action.value}
        out.update(self.seizure.to_dict())
        out["photos"] = list(self.photo_hashes)
        out.update({"model_version": self.model_version, "label": self.label,
                    "decision": self.decision, "prediction": self.prediction})
        out.update(self.confirmation.to_dict() if self.confirmation else {
            k: None for k in CONFIRMATION_KEYS})
        out["note"] = self.note
        return out


CONFIRMATION_KEYS = ("confirmed_entry", "confirmed_scientific_name", "confirmed_by",
                     "confirmation_method", "confirmed_on", "confirmation_reference",
                     "confirmation_recorded_at")


class CaseRow(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    officer: Mapped[str] = mapped_column(NAME, ForeignKey("users.name"), index=True)
    shipment_ref: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[CaseAction] = mapped_column(enum_column(CaseAction, "case_action"), index=True)
    model_version: Mapped[str] = mapped_column(String(100))
    prediction: Mapped[dict] = mapped_column(JSON)
    label: Mapped[str] = mapped_column(String(200), index=True)
    decision: Mapped[str] = mapped_column(String(50))
    # --- version 2: the seizure (every column nullable or with a default, so that a
    # version-1 table takes them with ALTER TABLE ... ADD COLUMN) ---------------------
    seizure_date: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    place: Mapped[str] = mapped_column(String(200), default="", server_default="")
    country: Mapped[str | None] = mapped_column(String(2), nullable=True, index=True)
    direction: Mapped[Direction | None] = mapped_column(
        enum_column(Direction, "direction"), nullable=True)
    transport_mode: Mapped[TransportMode | None] = mapped_column(
        enum_column(TransportMode, "transport_mode"), nullable=True)
    conveyance_ref: Mapped[str] = mapped_column(String(200), default="", server_default="")
    concealment: Mapped[Concealment | None] = mapped_column(
        enum_column(Concealment, "concealment"), nullable=True)
    concealment_detail: Mapped[str] = mapped_column(Text, default="", server_default="")
    declared_description: Mapped[str] = mapped_column(Text, default="", server_default="")
    commodity: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    scientific_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cites_appendix: Mapped[str | None] = mapped_column(String(8), nullable=True)
    quantity: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[Unit | None] = mapped_column(enum_column(Unit, "unit"), nullable=True)
    weight_kg: Mapped[float | None] = mapped_column(Float, nullable=True)
    origin_country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    transit_countries: Mapped[list | None] = mapped_column(JSON, nullable=True)
    destination_country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    detection_method: Mapped[DetectionMethod | None] = mapped_column(
        enum_column(DetectionMethod, "detection_method"), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_by: Mapped[str | None] = mapped_column(NAME, nullable=True)
    # --- version 2: the confirmation ---------------------------------------------------
    confirmed_entry: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    confirmed_scientific_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    confirmed_by: Mapped[str | None] = mapped_column(NAME, nullable=True)
    confirmation_method: Mapped[ConfirmationMethod | None] = mapped_column(
        enum_column(ConfirmationMethod, "confirmation_method"), nullable=True)
    confirmed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    confirmation_ref: Mapped[str] = mapped_column(String(200), default="", server_default="")
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def set_seizure(self, seizure: Seizure) -> None:
        for name, value in asdict(seizure).items():
            setattr(self, name, list(value) if name == "transit_countries" else value)

    def seizure(self) -> Seizure:
        return Seizure(**{name: getattr(self, name) for name in Seizure.field_names()
                          if name != "transit_countries"},
                       transit_countries=tuple(self.transit_countries or ()))

    def confirmation(self) -> Confirmation | None:
        if self.confirmed_entry is None:
            return None
        return Confirmation(self.confirmed_entry, self.confirmed_scientific_name,
                            self.confirmed_by or "", ConfirmationMethod(self.confirmation_method),
                            self.confirmed_on, self.confirmation_ref, self.confirmed_at)

    def record(self, photos: list[CasePhotoRow]) -> Case:
        return Case(self.id, self.created_at, self.officer, self.shipment_ref, self.note,
                    CaseAction(self.action), self.model_version, dict(self.prediction or {}),
                    self.label, self.decision, self.seizure(),
                    tuple(p.record() for p in sorted(photos, key=lambda p: p.position)),
                    self.confirmation(), self.updated_at, self.updated_by)


class CasePhotoRow(Base):
    __tablename__ = "case_photos"
    __table_args__ = (UniqueConstraint("case_id", "sha256"),)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    review: Mapped[PhotoReview] = mapped_column(enum_column(PhotoReview, "photo_review"),
                                                default=PhotoReview.PENDING, index=True)
    reviewed_by: Mapped[str | None] = mapped_column(NAME, nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    review_note: Mapped[str] = mapped_column(Text, default="")

    def record(self) -> CasePhoto:
        return CasePhoto(self.sha256, PhotoReview(self.review), self.reviewed_by,
                         self.reviewed_at, self.review_note)
