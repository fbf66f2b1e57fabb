"""The legal side of a catalogue entry: its CITES Appendix, the rows of a split listing, and
when each listing took effect.

Why: an officer must know not only "Appendix II" but *which* populations or species are in
which Appendix (a Nile crocodile skin from Zimbabwe and one from Ghana are not in the same
Appendix) and *since when* (a CoP20 listing is not in force the day the meeting ends).

* `Appendix` - I, II, III or none, ordered from strictest.
* `ListingRow` - one taxon or population and its Appendix, with the date it took effect.
* `CitesListing` - the entry's headline Appendix, its English legal note, the date the
  Appendices were checked, and its rows; ``split`` when the rows differ in Appendix.
* `in_force_after(cop)` - when a Conference of the Parties' amendments took effect.
* `parse_cites(data)` / `cites_to_mapping(listing)` - the YAML side (problems are returned,
  not raised, so the loader can list every problem of an entry at once).
"""
from __future__ import annotations

import datetime as _dt
import enum
import functools
import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlparse

CHECKED_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])\b")
CITES_HOSTS = ("cites.org", "speciesplus.net")  # and their sub-domains (checklist.cites.org)


@functools.total_ordering
class Appendix(enum.Enum):
    """CITES Appendix, ordered from strictest (I) to not listed (NONE)."""

    I = "I"
    II = "II"
    III = "III"
    NONE = "none"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Appendix):
            return NotImplemented
        order = list(Appendix)
        return order.index(self) < order.index(other)

    @property
    def label(self) -> str:
        return "not listed" if self is Appendix.NONE else f"Appendix {self.value}"

    @classmethod
    def parse(cls, value: "Appendix | str | None") -> "Appendix":
        """The appendix for 'I' / 'ii' / ' III ' / 'none' / None (None: not listed)."""
        if isinstance(value, Appendix):
            return value
        text = "none" if value is None else str(value).strip().lower()
        for appendix in cls:
            if text == appendix.value.lower():
                return appendix
        raise ValueError(f"CITES appendix {value!r} is not one of 'I', 'II', 'III' or None/'none'")


# Conferences of the Parties: (city, last day of the meeting). Amendments to Appendices I and
# II adopted at a meeting enter into force 90 days after it (Convention, Article XV 1(c)),
# unless the listing itself delays its implementation. Checked against the dates CITES
# announced: CoP17 -> 2 January 2017, CoP18 -> 26 November 2019, CoP19 -> 23 February 2023.
COP_MEETINGS: Mapping[int, tuple[str, _dt.date]] = {
    17: ("Johannesburg", _dt.date(2016, 10, 4)),
    18: ("Geneva", _dt.date(2019, 8, 28)),
    19: ("Panama City", _dt.date(2022, 11, 25)),
    20: ("Samarkand", _dt.date(2025, 12, 5)),
}
ENTRY_INTO_FORCE_DAYS = 90


def in_force_after(cop: int) -> _dt.date:
    """The day a CoP's amendments took effect: 90 days after the meeting's last day."""
    if cop not in COP_MEETINGS:
        raise ValueError(f"no date known for CoP{cop}; known meetings: "
                         f"{', '.join(f'CoP{n}' for n in COP_MEETINGS)}")
    return COP_MEETINGS[cop][1] + _dt.timedelta(days=ENTRY_INTO_FORCE_DAYS)


@dataclass(frozen=True)
class ListingRow:
    """One taxon or population and its Appendix, e.g. ('Loxodonta africana: populations of
    Botswana, Namibia, South Africa and Zimbabwe', II, None)."""

    covers: str
    appendix: Appendix
    in_force: _dt.date | None = None  # when this listing took effect, where it matters


@dataclass(frozen=True)
class CitesListing:
    appendix: Appendix
    note: str  # English; says what is split, annotated or uncertain
    checked_against: str  # e.g. "2026-02 (CoP20 amendments)"
    listings: tuple[ListingRow, ...] = ()

    @property
    def protected(self) -> bool:
        return self.appendix is not Appendix.NONE

    @property
    def split(self) -> bool:
        """True when the entry's taxa or populations are in different Appendices."""
        return len({row.appendix for row in self.listings}) > 1


def is_cites_source(url: str) -> bool:
    """True for the CITES Appendices, checklist and Species+ (the official listing sources)."""
    host = (urlparse(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in CITES_HOSTS)


def _date(value: Any) -> _dt.date | None:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def parse_cites(cites: Any) -> tuple[CitesListing | None, list[tuple[str, str]]]:
    """The `cites:` mapping of an entry file -> (listing or None, [(field, problem), ...])."""
    problems: list[tuple[str, str]] = []
    if not isinstance(cites, Mapping):
        return None, [("cites", f"must be a mapping with appendix, note and checked_against, got {cites!r}")]
    for key in cites:
        if key not in ("appendix", "note", "checked_against", "listings"):
            problems.append((f"cites.{key}", "is not a known field; use appendix, note, checked_against, listings"))
    appendix = None
    try:
        appendix = Appendix(cites.get("appendix"))
    except ValueError:
        problems.append(("cites.appendix", f"must be I, II, III or none, got {cites.get('appendix')!r}"))
    note = cites.get("note")
    if not isinstance(note, str) or not note.strip():
        problems.append(("cites.note", f"must be non-empty text, got {note!r}"))
    checked = cites.get("checked_against")
    if not isinstance(checked, str) or not CHECKED_RE.match(checked):
        problems.append(("cites.checked_against", "must start with the year and month the Appendices were "
                         f"checked, e.g. '2026-02 (CoP20 amendments)', got {checked!r}"))
    rows = _parse_rows(cites.get("listings"), problems)
    if rows and appendix is not None and appendix not in {r.appendix for r in rows}:
        problems.append(("cites.appendix", f"is {appendix.value}, which none of the listings rows has; "
                         "the headline Appendix must be one of the rows' Appendices"))
    if problems:
        return None, problems
    return CitesListing(appendix, note.strip(), checked.strip(), tuple(rows)), []


def _parse_rows(raw: Any, problems: list[tuple[str, str]]) -> list[ListingRow]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(("cites.listings", f"must be a list of {{covers, appendix, in_force}}, got {raw!r}"))
        return []
    rows = []
    for i, item in enumerate(raw):
        where = f"cites.listings[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"covers", "appendix", "in_force"}:
            problems.append((where, f"must be a mapping with covers, appendix and optionally in_force, got {item!r}"))
            continue
        covers = item.get("covers")
        if not isinstance(covers, str) or not covers.strip():
            problems.append((f"{where}.covers", "must name the taxon or population, e.g. "
                             "'Crocodylus niloticus: populations of Botswana, ...'"))
            continue
        try:
            row_appendix = Appendix(item.get("appendix"))
        except ValueError:
            problems.append((f"{where}.appendix", f"must be I, II, III or none, got {item.get('appendix')!r}"))
            continue
        in_force = None
        if item.get("in_force") is not None:
            in_force = _date(item["in_force"])
            if in_force is None:
                problems.append((f"{where}.in_force", f"must be a date YYYY-MM-DD, got {item['in_force']!r}"))
                continue
        rows.append(ListingRow(covers.strip(), row_appendix, in_force))
    return rows


def cites_to_mapping(listing: CitesListing) -> dict[str, Any]:
    """Plain, YAML/JSON-ready dict in the canonical key order (rows only when there are any)."""
    out: dict[str, Any] = {"appendix": listing.appendix.value, "note": listing.note}
    if listing.listings:
        out["listings"] = [
            {"covers": r.covers, "appendix": r.appendix.value,
             **({"in_force": r.in_force.isoformat()} if r.in_force else {})}
            for r in listing.listings]
    out["checked_against"] = listing.checked_against
    return out
