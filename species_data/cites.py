"""The legal side of a catalogue entry: its CITES Appendix, the rows of a split listing, and
when each listing took effect.

Why: an officer must know not only "Appendix II" but *which* populations or species are in
which Appendix (a Nile crocodile skin from Zimbabwe and one from Ghana are not in the same
Appendix) and *since when* (a CoP20 listing is not in force the day the meeting ends).

* `Appendix` - I, II, III or none, ordered from strictest.
* `ListingRow` - one taxon or population (named per language, English required) and its
  Appendix, with the date it took effect.
* `CitesListing` - the entry's headline Appendix, its legal note (per language, English
  required), the date the Appendices were checked, and its rows; ``split`` when the rows
  differ in Appendix.
* `in_force_after(cop)` - when a Conference of the Parties' amendments took effect.
* `CheckedAgainst.parse(text)` / `species_plus_checked(...)` - what `checked_against` says
  (the month, and which Appendices or import), so the app can say it in every language.
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

from .localised import DEFAULT_LANGUAGE, LANGUAGES, Localised, as_language_map, pick

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


class Basis(enum.Enum):
    """What an entry's listing was checked against (the text in brackets of `checked_against`)."""

    COP = "cop"  # "CoP20 amendments"
    APPENDICES = "appendices"  # "Appendices valid from 23 February 2023; CoP20 changes not verified"
    SPECIES_PLUS = "species_plus"  # "Species+ checklist import: file.csv, 2026-04-01"
    MONTH = "month"  # nothing in brackets
    OTHER = "other"  # free text a trainer wrote (shown as written)


_COP_RE = re.compile(r"^CoP(?P<cop>\d+) amendments$")
_APPENDICES_RE = re.compile(r"^Appendices valid from (?P<since>\d{1,2} [A-Z][a-z]+ \d{4})"
                            r"(?:, after CoP\d+)?(?:; CoP(?P<unverified>\d+) changes not verified)?$")
_IMPORT_RE = re.compile(r"^Species\+ checklist import: (?P<source>.+), (?P<on>\d{4}-\d{2}-\d{2})$")
_CHECKED_RE = re.compile(r"^(?P<month>\d{4}-\d{2})\b\s*(?:\((?P<detail>.*)\))?\s*$")


@dataclass(frozen=True)
class CheckedAgainst:
    """`checked_against` read back: the month and what the listing was checked against.

    `params` are the values a sentence needs: `cop` (COP); `since` (ISO date) and, when the
    text says so, `unverified` (a CoP whose changes were not checked) (APPENDICES); `source`
    and `on` (SPECIES_PLUS); `detail` (OTHER, the bracketed text as written)."""

    month: str
    basis: Basis
    params: Mapping[str, str]

    @classmethod
    def parse(cls, text: str) -> "CheckedAgainst":
        m = _CHECKED_RE.match(text.strip())
        if m is None:  # the loader only checks the YYYY-MM start; keep any other text as it is
            return cls(text.strip()[:7], Basis.OTHER, {"detail": text.strip()[7:].strip(" ()")})
        month, detail = m["month"], (m["detail"] or "").strip()
        if not detail:
            return cls(month, Basis.MONTH, {})
        if (cop := _COP_RE.match(detail)) is not None:
            return cls(month, Basis.COP, {"cop": cop["cop"]})
        if (app := _APPENDICES_RE.match(detail)) is not None:
            try:
                since = _dt.datetime.strptime(app["since"], "%d %B %Y").date().isoformat()
            except ValueError:
                return cls(month, Basis.OTHER, {"detail": detail})
            params = {"since": since}
            if app["unverified"]:
                params["unverified"] = app["unverified"]
            return cls(month, Basis.APPENDICES, params)
        if (imp := _IMPORT_RE.match(detail)) is not None:
            return cls(month, Basis.SPECIES_PLUS, {"source": imp["source"], "on": imp["on"]})
        return cls(month, Basis.OTHER, {"detail": detail})


def species_plus_checked(today: _dt.date, source: str) -> str:
    """The `checked_against` text the Species+ import writes (`CheckedAgainst.parse` reads it)."""
    return f"{today:%Y-%m} (Species+ checklist import: {source}, {today.isoformat()})"


@dataclass(frozen=True)
class ListingRow:
    """One taxon or population and its Appendix, e.g. ('Loxodonta africana: populations of
    Botswana, Namibia, South Africa and Zimbabwe', II, None). `covers_texts` is per language
    ({'en': ..., 'fr': ...}); a plain string is read as English."""

    covers_texts: Mapping[str, str]
    appendix: Appendix
    in_force: _dt.date | None = None  # when this listing took effect, where it matters

    def __post_init__(self) -> None:
        object.__setattr__(self, "covers_texts", as_language_map(self.covers_texts))

    @property
    def covers(self) -> str:
        """What the row covers, in English (the names the Species+ import matches)."""
        return self.covers_texts[DEFAULT_LANGUAGE]

    def covers_in(self, lang: str | None = DEFAULT_LANGUAGE) -> Localised[str]:
        return pick(self.covers_texts, lang)

    def __hash__(self) -> int:
        return hash((tuple(self.covers_texts.items()), self.appendix, self.in_force))


@dataclass(frozen=True)
class CitesListing:
    appendix: Appendix
    notes: Mapping[str, str]  # per language, English required; says what is split, annotated or uncertain
    checked_against: str  # e.g. "2026-02 (CoP20 amendments)"
    listings: tuple[ListingRow, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "notes", as_language_map(self.notes))

    def __hash__(self) -> int:
        return hash((self.appendix, tuple(self.notes.items()), self.checked_against, self.listings))

    @property
    def note(self) -> str:
        """The legal note in English (the reference text)."""
        return self.notes[DEFAULT_LANGUAGE]

    def note_in(self, lang: str | None = DEFAULT_LANGUAGE) -> Localised[str]:
        return pick(self.notes, lang)

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
    notes = _texts(cites.get("note"), "cites.note", problems)
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
    return CitesListing(appendix, notes, checked.strip(), tuple(rows)), []


def _texts(value: Any, field: str, problems: list[tuple[str, str]]) -> dict[str, str]:
    """Text per language: a plain string (English) or {lang: text} with English present."""
    raw = value if isinstance(value, Mapping) else {DEFAULT_LANGUAGE: value}
    out: dict[str, str] = {}
    for lang, text in raw.items():
        where = field if not isinstance(value, Mapping) else f"{field}.{lang}"
        if lang not in LANGUAGES:
            problems.append((where, f"'{lang}' is not a supported language code; use one of {', '.join(LANGUAGES)}"))
        elif not isinstance(text, str) or not text.strip():
            problems.append((where, f"must be non-empty text, got {text!r}"))
        else:
            out[lang] = text.strip()
    if isinstance(value, Mapping) and DEFAULT_LANGUAGE not in value:
        problems.append((f"{field}.{DEFAULT_LANGUAGE}", "is missing: English text is required "
                         "(other languages fall back to it)"))
    return out


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
        if not isinstance(covers, (str, Mapping)) or (isinstance(covers, str) and not covers.strip()):
            problems.append((f"{where}.covers", "must name the taxon or population, e.g. "
                             "'Crocodylus niloticus: populations of Botswana, ...'"))
            continue
        before = len(problems)
        covers = _texts(covers, f"{where}.covers", problems)
        if len(problems) > before:
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
        rows.append(ListingRow(covers, row_appendix, in_force))
    return rows


def cites_to_mapping(listing: CitesListing) -> dict[str, Any]:
    """Plain, YAML/JSON-ready dict in the canonical key order (rows only when there are any)."""
    out: dict[str, Any] = {"appendix": listing.appendix.value, "note": dict(listing.notes)}
    if listing.listings:
        out["listings"] = [
            {"covers": dict(r.covers_texts), "appendix": r.appendix.value,
             **({"in_force": r.in_force.isoformat()} if r.in_force else {})}
            for r in listing.listings]
    out["checked_against"] = listing.checked_against
    return out
