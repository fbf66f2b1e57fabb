"""The seizure fields of a case and the laboratory confirmation: typed, validated values.

Why: a case that says only "detained, python" helps the officer remember; an analyst
needs where, when, how it travelled, how it was hidden, how it was found, and what a
laboratory later said it really was. Every list here is an enum and every value is
checked at the server, with an error naming the bad value and the allowed ones, so the
database never holds a route through "UK" or a concealment called "bag".

Pure: no database, no web framework. `docs/seizure_schema.md` defines each field and maps
it to the consensus wildlife-seizure data dictionary and the WCO CEN template.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Callable, Mapping

import pycountry


class Direction(StrEnum):
    IMPORT = "import"
    EXPORT = "export"
    TRANSIT = "transit"


class TransportMode(StrEnum):
    AIR = "air"
    SEA = "sea"
    ROAD = "road"
    RAIL = "rail"
    POSTAL = "postal"
    COURIER = "courier"


class Concealment(StrEnum):
    NOT_CONCEALED = "not_concealed"
    BAGGAGE = "baggage"                        # checked or cabin luggage
    ON_BODY = "on_body"                        # worn, strapped, in pockets
    HIDDEN_COMPARTMENT = "hidden_compartment"  # false bottom, double wall, vehicle structure
    MIXED_WITH_GOODS = "mixed_with_goods"      # among legal goods, under a cover load
    FALSE_DECLARATION = "false_declaration"    # in plain sight, declared as something else
    POSTAL_ITEM = "postal_item"                # inside a parcel or letter
    CONTAINER = "container"                    # in a cargo container
    OTHER = "other"


class Unit(StrEnum):
    PIECES = "pieces"
    KG = "kg"
    G = "g"
    LITRES = "litres"


class DetectionMethod(StrEnum):
    ROUTINE = "routine"
    RISK_PROFILE = "risk_profile"
    INTELLIGENCE = "intelligence"
    DETECTOR_DOG = "detector_dog"
    XRAY_SCANNER = "xray_scanner"
    OTHER = "other"


class ConfirmationMethod(StrEnum):
    MORPHOLOGY = "morphology"
    DNA = "dna"
    SPECTROSCOPY = "spectroscopy"  # Raman, infrared...
    OTHER = "other"


class Outcome(StrEnum):
    """How the model's tentative answer compares with the confirmed identity."""

    AGREED = "agreed"              # identified as the confirmed entry
    GROUP_AGREED = "group_agreed"  # answered a group that holds the confirmed entry
    WRONG = "wrong"                # identified another entry, or a group without it
    NO_ANSWER = "no_answer"        # the model said it did not know


# --- checks ---------------------------------------------------------------------------------

COUNTRY_CODES = frozenset(c.alpha_2 for c in pycountry.countries)
# Codes people write that ISO 3166-1 reserves for other uses (EU usage), and the right one.
RESERVED_HINTS = {"UK": "GB", "EL": "GR"}
MAX_TRANSIT = 10
MAX_AMOUNT = 1e9  # pieces, kg, g or litres: above is a typing error, not a seizure


def parse_enum(cls: type[StrEnum], value: Any, what: str) -> Any:
    """`cls(value)`, None for empty; a ValueError naming the value and the choices."""
    if value is None or value == "":
        return None
    try:
        return cls(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not one of: "
                         f"{', '.join(m.value for m in cls)}") from None


def parse_country(value: Any, what: str = "country") -> str | None:
    """An ISO 3166-1 alpha-2 code (upper case), None for empty; the error suggests the code
    when the value is a country's name or alpha-3 code."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what} must be text, not {type(value).__name__} ({value!r})")
    code = value.strip().upper()
    if code in COUNTRY_CODES:
        return code
    try:
        match = pycountry.countries.lookup(RESERVED_HINTS.get(code, value.strip()))
        hint = f"; did you mean {match.alpha_2!r} ({match.name})?"
    except LookupError:
        hint = "; use the two-letter code, e.g. 'KE' for Kenya, 'VN' for Viet Nam"
    raise ValueError(f"{what} {value!r} is not an ISO 3166-1 alpha-2 country code{hint}")


def parse_countries(values: Any, what: str) -> tuple[str, ...]:
    """A list of codes (or one comma-separated string) -> tuple of checked codes."""
    if values is None or values == "":
        return ()
    items = [v.strip() for v in values.split(",")] if isinstance(values, str) else list(values)
    codes = tuple(c for c in (parse_country(v, what) for v in items) if c is not None)
    if len(codes) > MAX_TRANSIT:
        raise ValueError(f"{what} lists {len(codes)} countries; at most {MAX_TRANSIT}")
    return codes


def parse_amount(value: Any, what: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(amount) or amount < 0 or amount > MAX_AMOUNT:
        raise ValueError(f"{what} {value!r} must be a number from 0 to {MAX_AMOUNT:g}")
    return amount


def parse_day(value: Any, what: str, today: date | None = None) -> date | None:
    """A calendar date (date, datetime or YYYY-MM-DD), not in the future, not before 1900."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = value.date()
    elif isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{what} {value!r} is not a date; write YYYY-MM-DD") from None
    elif not isinstance(value, date):
        raise TypeError(f"{what} must be a date, not {type(value).__name__} ({value!r})")
    latest = (today or datetime.now(timezone.utc).date()) + timedelta(days=1)  # time zones
    if not date(1900, 1, 1) <= value <= latest:
        raise ValueError(f"{what} {value.isoformat()} is in the future or before 1900; "
                         "check the date")
    return value


def parse_text(value: Any, what: str, max_len: int) -> str:
    value = "" if value is None else value
    if not isinstance(value, str):
        raise TypeError(f"{what} must be text, not {type(value).__name__} ({value!r})")
    value = value.strip()
    if len(value) > max_len:
        raise ValueError(f"{what} has {len(value)} characters; shorten it to {max_len}")
    return value


# --- the seizure ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Seizure:
    """What the officer records about the seizure (every field may be left empty).

    `scientific_name` and `cites_appendix` are copied from the catalogue entry `commodity`
    when the case is saved (`with_commodity`), so the record keeps what the catalogue said
    on that day even if the entry changes later."""

    seizure_date: date | None = None
    place: str = ""
    country: str | None = None
    direction: Direction | None = None
    transport_mode: TransportMode | None = None
    conveyance_ref: str = ""
    concealment: Concealment | None = None
    concealment_detail: str = ""
    declared_description: str = ""
    commodity: str | None = None
    scientific_name: str | None = None
    cites_appendix: str | None = None
    quantity: float | None = None
    unit: Unit | None = None
    weight_kg: float | None = None
    origin_country: str | None = None
    transit_countries: tuple[str, ...] = ()
    destination_country: str | None = None
    detection_method: DetectionMethod | None = None

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def parse(cls, values: Mapping[str, Any] | None = None, *, today: date | None = None) -> Seizure:
        """Checked fields from plain values (form, API, CSV); unknown names are refused."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"unknown seizure field(s) {', '.join(map(repr, unknown))}; "
                             f"the fields are {', '.join(cls.field_names())}")
        v = values.get
        quantity, unit = parse_amount(v("quantity"), "quantity"), parse_enum(Unit, v("unit"), "unit")
        if quantity is not None and unit is None:
            raise ValueError(f"quantity {quantity:g} has no unit; choose one of "
                             f"{', '.join(u.value for u in Unit)}")
        commodity = parse_text(v("commodity"), "commodity", 200) or None
        return cls(
            seizure_date=parse_day(v("seizure_date"), "seizure_date", today),
            place=parse_text(v("place"), "place", 200),
            country=parse_country(v("country"), "country"),
            direction=parse_enum(Direction, v("direction"), "direction"),
            transport_mode=parse_enum(TransportMode, v("transport_mode"), "transport_mode"),
            conveyance_ref=parse_text(v("conveyance_ref"), "conveyance_ref", 200),
            concealment=parse_enum(Concealment, v("concealment"), "concealment"),
            concealment_detail=parse_text(v("concealment_detail"), "concealment_detail", 2000),
            declared_description=parse_text(v("declared_description"), "declared_description",
                                             2000),
            commodity=commodity,
            scientific_name=parse_text(v("scientific_name"), "scientific_name", 200) or None,
            cites_appendix=parse_text(v("cites_appendix"), "cites_appendix", 8) or None,
            quantity=quantity, unit=unit,
            weight_kg=parse_amount(v("weight_kg"), "weight_kg"),
            origin_country=parse_country(v("origin_country"), "origin_country"),
            transit_countries=parse_countries(v("transit_countries"), "transit_countries"),
            destination_country=parse_country(v("destination_country"), "destination_country"),
            detection_method=parse_enum(DetectionMethod, v("detection_method"), "detection_method"),
        )

    def with_commodity(self, catalogue: Any) -> Seizure:
        """The commodity checked against `catalogue` (anything with `.get(id)`), with its
        scientific name and CITES appendix copied in; both cleared when there is none."""
        if self.commodity is None:
            return replace(self, scientific_name=None, cites_appendix=None)
        entry = catalogue.get(self.commodity)
        if entry is None:
            raise ValueError(f"commodity {self.commodity!r} is not a catalogue entry; choose one "
                             "from the list, or ask a trainer to add it")
        return replace(self, scientific_name=entry.scientific_name,
                       cites_appendix=entry.appendix.value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ISO date, enum values, the transit list as a list."""
        d = asdict(self)
        d["seizure_date"] = self.seizure_date.isoformat() if self.seizure_date else None
        d["transit_countries"] = list(self.transit_countries)
        return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in d.items()}


# --- the confirmation -----------------------------------------------------------------------

@dataclass(frozen=True)
class Confirmation:
    """An expert's or laboratory's identification of what was seized."""

    entry: str  # catalogue entry id
    scientific_name: str | None  # copied from the catalogue when recorded
    confirmed_by: str  # the trainer or admin who recorded it
    method: ConfirmationMethod
    confirmed_on: date  # the day of the expert's or laboratory's result
    reference: str  # lab report number, expert's name...
    recorded_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"confirmed_entry": self.entry, "confirmed_scientific_name": self.scientific_name,
                "confirmed_by": self.confirmed_by, "confirmation_method": self.method.value,
                "confirmed_on": self.confirmed_on.isoformat(),
                "confirmation_reference": self.reference,
                "confirmation_recorded_at": self.recorded_at.isoformat()}


def outcome(decision: str, label: str, confirmed: str,
            group_of: Callable[[str], str | None]) -> Outcome:
    """Compare the model's tentative answer (`decision`, `label`: an entry or group id)
    with the confirmed entry; `group_of(entry_id)` gives an entry's group."""
    if decision == "identified":
        return Outcome.AGREED if label == confirmed else Outcome.WRONG
    if decision == "group":
        return Outcome.GROUP_AGREED if group_of(confirmed) == label else Outcome.WRONG
    return Outcome.NO_ANSWER
