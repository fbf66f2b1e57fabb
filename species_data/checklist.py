"""Keeping the catalogue's legal status current from the official list: a CITES listings CSV
as Species+ (speciesplus.net) gives it, compared with the catalogue and applied on request.

Why: listings change at every Conference of the Parties and Appendix III changes in between;
a trainer should not retype them. The import never guesses: it changes an entry's Appendix
only when the file gives one Appendix for everything the entry covers; a split listing is
shown for review (the entry's population rows are curated by hand).

    rows = read_checklist(path)                  # ChecklistError names a bad file, line or value
    diff = compare(catalogue, rows)              # Diff: per-entry Change, names not in the catalogue
    apply_diff(diff, catalogue, overlay, "tina", source="listings.csv")   # atomic save + history

Matching: an entry covers its `scientific_name` and `other_taxa`. A species or subspecies
matches a row of the same name, else its genus's row ("Dalbergia" or "Dalbergia spp.");
a "Taxon spp." entry matches the row of that taxon and every row inside it (by the file's
Genus, Family, Order and Class columns when present, else by the genus in the name).
"""
from __future__ import annotations

import csv
import datetime as _dt
import enum
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .catalogue import Catalogue, entry_to_mapping
from .catalogue_write import save_entries
from .cites import Appendix, species_plus_checked

MAX_BYTES = 50 * 2**20
MAX_ROWS = 200_000
# header (lower case, single spaces) -> field; extra columns are ignored
COLUMNS = {
    "scientific name": "name", "scientificname": "name", "taxon": "name",
    "listing": "listing", "current listing": "listing", "appendix": "listing",
    "party": "party", "full note": "note", "annotation": "note", "rank": "rank",
    "genus": "genus", "family": "family", "order": "order", "class": "class",
}
REQUIRED = ("name", "listing")
NOTE_CHARS = 300


class ChecklistError(ValueError):
    """The file is not a usable CITES listings CSV; the message says why and what to do."""


class Status(enum.Enum):  # in the order the diff lists them
    CHANGED = "changed"  # one Appendix in the file, different from the entry's
    SPLIT = "split"  # several Appendices: review the entry's population rows
    UNCHANGED = "unchanged"  # the file agrees with the entry
    NOT_IN_FILE = "not_in_file"  # a listed entry none of whose names is in the file


@dataclass(frozen=True)
class ChecklistRow:
    name: str  # "Loxodonta africana", "Dalbergia" (a genus), spaces normalised
    appendices: frozenset[Appendix]
    partly_unlisted: bool  # "NC" in the listing: some populations are not listed
    party: str = ""
    note: str = ""
    rank: str = ""
    higher: frozenset[str] = frozenset()  # genus, family, order and class names given in the file
    line: int = 0

    @property
    def listing(self) -> str:
        parts = [a.value for a in sorted(self.appendices)] + (["NC"] if self.partly_unlisted else [])
        return "/".join(parts)


@dataclass(frozen=True)
class Change:
    entry_id: str
    old: Appendix
    new: Appendix  # the Appendix the entry will have (== old unless status is CHANGED or a split
    status: Status  # leaves the entry's Appendix outside the file's)
    listing: str  # the file's listing for what the entry covers, e.g. "I/II"
    matched: tuple[str, ...]  # names in the file that matched
    note: str  # English: what the file says (Party, annotation)

    @property
    def applies(self) -> bool:
        return self.status is not Status.NOT_IN_FILE


@dataclass(frozen=True)
class Diff:
    changes: tuple[Change, ...]
    rows: int
    unmatched: tuple[str, ...] = field(default=())  # names in the file no entry covers

    def count(self, status: Status) -> int:
        return sum(1 for c in self.changes if c.status is status)

    @property
    def to_apply(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.applies)


# --- reading -----------------------------------------------------------------------------------

def _clean(text: Any) -> str:
    return re.sub(r"\s+", " ", str(text or "")).strip()


def parse_listing(text: str, line: int) -> tuple[frozenset[Appendix], bool]:
    """'I/II/NC' -> ({I, II}, True)."""
    tokens = [p.strip().upper() for p in re.split(r"[/,;]", text) if p.strip()]
    apps, unlisted = set(), False
    for token in tokens:
        if token == "NC":
            unlisted = True
        elif token in ("I", "II", "III"):
            apps.add(Appendix(token))
        else:
            raise ChecklistError(f"line {line}: Listing {text!r} is not I, II, III or NC (or a combination "
                                 "such as I/II); check that this is the CITES listings CSV from Species+")
    return frozenset(apps), unlisted


def read_checklist(source: Path | str | bytes, name: str = "file") -> list[ChecklistRow]:
    """Rows of a Species+ CITES listings CSV (UTF-8, with or without a BOM; columns in any
    order; extra columns ignored). Rows with an empty Listing are skipped."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = path.name
        if path.stat().st_size > MAX_BYTES:
            raise ChecklistError(f"{name} is larger than {MAX_BYTES // 2**20} MB; download only the taxa you need")
        data = path.read_bytes()
    else:
        data = bytes(source)
        if len(data) > MAX_BYTES:
            raise ChecklistError(f"{name} is larger than {MAX_BYTES // 2**20} MB; download only the taxa you need")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ChecklistError(f"{name} is not UTF-8 text; download the CSV from Species+ again "
                             "(or save it as 'CSV UTF-8')") from None
    if "\x00" in text:
        raise ChecklistError(f"{name} is not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise ChecklistError(f"{name} is empty")
    columns: dict[str, int] = {}
    for i, title in enumerate(header):
        key = COLUMNS.get(_clean(title).lower())
        if key and key not in columns:
            columns[key] = i
    missing = [k for k in REQUIRED if k not in columns]
    if missing:
        wanted = {"name": "Scientific Name", "listing": "Listing"}
        raise ChecklistError(f"{name} has no {' or '.join(repr(wanted[k]) for k in missing)} column "
                             f"(found: {', '.join(_clean(h) for h in header[:12]) or 'none'}); use the CITES "
                             "listings CSV download from Species+")
    rows: list[ChecklistRow] = []
    for number, cells in enumerate(reader, start=2):
        if number > MAX_ROWS + 1:
            raise ChecklistError(f"{name} has more than {MAX_ROWS} rows; download only the taxa you need")
        get = lambda key: _clean(cells[columns[key]]) if key in columns and columns[key] < len(cells) else ""  # noqa: E731
        taxon, listing = get("name"), get("listing")
        if not taxon or not listing:
            continue
        appendices, unlisted = parse_listing(listing, number)
        taxon = re.sub(r" spp\.?$", "", taxon)
        higher = frozenset(v for v in (get("genus"), get("family"), get("order"), get("class")) if v)
        rows.append(ChecklistRow(taxon, appendices, unlisted, get("party"), get("note")[:NOTE_CHARS],
                                 get("rank").upper(), higher, number))
    if not rows:
        raise ChecklistError(f"{name} has no listing rows")
    return rows


# --- comparing ---------------------------------------------------------------------------------

def _rows_for(taxon: str, rows: Sequence[ChecklistRow], by_name: Mapping[str, list[ChecklistRow]]
              ) -> tuple[list[ChecklistRow], bool]:
    """(rows about `taxon`, whether one of them is the taxon's own listing). For "Taxon spp."
    the rows of its members count too, but a member's listing is not the group's."""
    if taxon.endswith(" spp."):
        group = taxon[:-5]
        inside = [r for r in rows if r.name == group or group in r.higher or r.name.split(" ")[0] == group]
        return inside, group in by_name
    exact = by_name.get(taxon)
    if exact:
        return list(exact), True
    genus = by_name.get(taxon.split(" ")[0], ())  # the genus's listing covers the species
    return list(genus), bool(genus)


def compare(catalogue: Catalogue, rows: Sequence[ChecklistRow]) -> Diff:
    """What the file says about each entry, against what the entry says."""
    by_name: dict[str, list[ChecklistRow]] = {}
    for r in rows:
        by_name.setdefault(r.name, []).append(r)
    used: set[int] = set()
    changes = []
    for entry in catalogue:
        found = [_rows_for(taxon, rows, by_name) for taxon in entry.taxa]
        matched = list({id(r): r for rs, _ in found for r in rs}.values())
        used.update(id(r) for r in matched)
        old = entry.appendix
        if not matched:
            if entry.protected:
                changes.append(Change(entry.id, old, old, Status.NOT_IN_FILE, "", (),
                                      "None of the entry's names is in the file; nothing changed."))
            continue
        members_only = not any(own for rs, own in found if rs)  # e.g. tiger's row for "Felidae spp."
        apps = frozenset(a for r in matched for a in r.appendices)
        unlisted = any(r.partly_unlisted for r in matched)
        listing = "/".join([a.value for a in sorted(apps)] + (["NC"] if unlisted else []))
        details = "; ".join(_row_note(r) for r in matched[:6]) + (" ..." if len(matched) > 6 else "")
        if apps == {old} and not unlisted:
            new, status, note = old, Status.UNCHANGED, details
        elif len(apps) == 1 and not unlisted and not members_only:
            (new,) = apps
            status, note = Status.CHANGED, f"Appendix {old.value} -> {new.value}. {details}"
        else:
            kept = old in apps or members_only or (old is Appendix.NONE and unlisted)
            new = old if kept or not apps else min(apps)
            status = Status.SPLIT
            note = (f"Split listing {listing}"
                    + (" (listings of some members only)" if members_only else "")
                    + ": review the entry's population rows "
                    + ("(kept its Appendix). " if new is old else f"(Appendix {old.value} is not in the file: "
                       f"proposed {new.value}). ") + details)
        changes.append(Change(entry.id, old, new, status, listing, tuple(r.name for r in matched), note))
    unmatched = tuple(sorted({r.name for r in rows if id(r) not in used}))
    order = {s: i for i, s in enumerate(Status)}
    changes.sort(key=lambda c: (order[c.status], c.entry_id))
    return Diff(tuple(changes), len(rows), unmatched)


def _row_note(r: ChecklistRow) -> str:
    text = f"{r.name}: {r.listing}"
    if r.party:
        text += f" (Party: {r.party})"
    if r.note:
        text += f" - {r.note}"
    return text


# --- applying ----------------------------------------------------------------------------------

def updated_mapping(change: Change, catalogue: Catalogue, source: str, today: _dt.date) -> dict[str, Any]:
    """The entry with the file's Appendix (when it changes) and the new checked-against date."""
    m = entry_to_mapping(catalogue[change.entry_id])
    cites = m["cites"]
    cites["checked_against"] = species_plus_checked(today, source)
    if change.new is not change.old:
        cites["appendix"] = change.new.value
        # Only the English note says what changed: translations of the old note are dropped
        # (the app shows the English note, marked as such) until a translator updates them.
        cites["note"] = {"en": f"{cites['note']['en']} Species+ checklist import {today.isoformat()}: "
                               f"Appendix {change.old.value} -> {change.new.value} ({change.listing})."}
        rows = cites.get("listings") or []
        if rows and change.new.value not in {r["appendix"] for r in rows}:
            rows.append({"covers": f"{', '.join(change.matched[:4])} (Species+ checklist import "
                                   f"{today.isoformat()}; review the rows above)", "appendix": change.new.value})
    return m


def apply_diff(diff: Diff, catalogue: Catalogue, directory: Path | str, author: str, *, source: str,
               base_dirs: Iterable[Path | str] | None = None, today: _dt.date | None = None) -> list[Path]:
    """Write every matched entry through the atomic save and the edit history."""
    today = today or _dt.date.today()
    mappings = [updated_mapping(c, catalogue, source, today) for c in diff.to_apply]
    if not mappings:
        return []
    return save_entries(mappings, directory, author, base_dirs=base_dirs,
                        reason=f"Species+ checklist import: {source}")
