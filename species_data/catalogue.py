"""The species catalogue: typed, immutable records of what an officer may be looking at.

One YAML file per entry lives in ``species_data/catalogue/<id>.yaml`` and the groups in
``species_data/catalogue/_groups.yaml`` (schema: ``species_data/README.md``). This module
holds the records and the `Catalogue`; the legal status (`Appendix`, `CitesListing`) is
in `species_data.cites`, the identification-key attributes in `species_data.key`; reading,
validating and writing files is in `species_data.catalogue_io` (``load_catalogue``) and
`species_data.catalogue_write` (``save_entry``), re-exported here.

Text people read is kept per language (`LANGUAGES`, English required). Accessors never
fail for a missing translation: they return a `Localised` value saying which language was
used and whether they fell back to English, so the UI can say so.
"""
from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from .cites import Appendix, CitesListing, ListingRow, cites_to_mapping
from .key import KeyAttributes, key_to_mapping
from .localised import DEFAULT_LANGUAGE, LANGUAGES, Localised, normalise_language
from .localised import frozen as _frozen
from .localised import pick as _pick

PACKAGED_DIR = Path(__file__).with_name("catalogue")
GROUPS_FILE = "_groups.yaml"
HISTORY_FILE = "_history.jsonl"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the catalogue, located as precisely as possible."""

    message: str
    file: str | None = None
    entry_id: str | None = None
    field: str | None = None
    what: str = "entry"  # "entry" or "group"

    def __str__(self) -> str:
        head = f"catalogue {self.what} '{self.entry_id}': " if self.entry_id else "catalogue: "
        where = f" (file: {self.file})" if self.file else ""
        return f"{head}{self.field + ' ' if self.field else ''}{self.message}{where}"


class CatalogueError(ValueError):
    """The catalogue (or one entry) is invalid. ``problems`` lists every problem found;
    ``file``, ``entry_id`` and ``field`` describe the first one."""

    def __init__(self, problems: Iterable[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: tuple[Problem, ...] = tuple(problems) or (Problem("invalid catalogue"),)
        first = self.problems[0]
        self.file, self.entry_id, self.field = first.file, first.entry_id, first.field
        text = str(first)
        if len(self.problems) > 1:
            rest = "\n".join(f"  - {p}" for p in self.problems[1:])
            text += f"\n  and {len(self.problems) - 1} more problem(s):\n{rest}"
        super().__init__(text)


class Kind(enum.Enum):
    WHOLE_ANIMAL = "whole_animal"
    PART_OR_PRODUCT = "part_or_product"
    LOOKALIKE = "lookalike"  # non-protected material or animal that resembles a protected one


@dataclass(frozen=True)
class Source:
    title: str
    url: str


@dataclass(frozen=True)
class LookAlike:
    """Another entry this one is confused with, and the cue that separates the pair."""

    id: str
    cue: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "cue", _frozen(self.cue))

    def cue_in(self, lang: str | None = DEFAULT_LANGUAGE) -> Localised[str]:
        return _pick(self.cue, lang)

    def __hash__(self) -> int:
        return hash((self.id, tuple(self.cue.items())))


@dataclass(frozen=True)
class Group:
    """A coarse class the model can fall back to ("probably a big cat")."""

    id: str
    names: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", _frozen(self.names))

    def name(self, lang: str | None = DEFAULT_LANGUAGE) -> str:
        return _pick(self.names, lang).value

    def name_in(self, lang: str | None = DEFAULT_LANGUAGE) -> Localised[str]:
        return _pick(self.names, lang)

    def __hash__(self) -> int:
        return hash((self.id, tuple(self.names.items())))


@dataclass(frozen=True)
class CatalogueEntry:
    id: str
    common_names: Mapping[str, tuple[str, ...]]  # first name is the display name
    scientific_name: str | None  # "Genus species", "Taxon spp."; None only for man-made look-alikes
    kind: Kind
    product_type: str | None  # "carving", "scales", "skin"...; None for whole animals
    group: str
    cites: CitesListing
    cues: Mapping[str, tuple[str, ...]]
    lookalikes: tuple[LookAlike, ...]
    handling: Mapping[str, tuple[str, ...]]
    sources: tuple[Source, ...]
    other_taxa: tuple[str, ...] = ()  # further scientific names it covers (CITES names, synonyms)
    key: KeyAttributes | None = None  # what the identification key asks about; None = unknown

    def __post_init__(self) -> None:
        for name in ("common_names", "cues", "handling"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def protected(self) -> bool:
        return self.cites.protected

    @property
    def appendix(self) -> Appendix:
        return self.cites.appendix

    @property
    def taxa(self) -> tuple[str, ...]:
        """Every scientific name this entry covers: the main one first, then `other_taxa`."""
        return ((self.scientific_name,) if self.scientific_name else ()) + self.other_taxa

    @property
    def lookalike_ids(self) -> tuple[str, ...]:
        return tuple(la.id for la in self.lookalikes)

    def common_name(self, lang: str | None = DEFAULT_LANGUAGE) -> str:
        return self.common_name_in(lang).value

    def common_name_in(self, lang: str | None = DEFAULT_LANGUAGE) -> Localised[str]:
        names = _pick(self.common_names, lang)
        return Localised(names.value[0], names.lang_used, names.fell_back)

    def names_in(self, lang: str | None = DEFAULT_LANGUAGE) -> Localised[tuple[str, ...]]:
        return _pick(self.common_names, lang)

    def cues_in(self, lang: str | None = DEFAULT_LANGUAGE) -> Localised[tuple[str, ...]]:
        return _pick(self.cues, lang)

    def handling_in(self, lang: str | None = DEFAULT_LANGUAGE) -> Localised[tuple[str, ...]]:
        return _pick(self.handling, lang)

    def lookalike(self, other_id: str) -> LookAlike | None:
        return next((la for la in self.lookalikes if la.id == other_id), None)


def _lang_map(values: Mapping[str, Any], as_list: bool) -> dict[str, Any]:
    return {lang: (list(values[lang]) if as_list else values[lang])
            for lang in LANGUAGES if lang in values}


def entry_to_mapping(entry: CatalogueEntry) -> dict[str, Any]:
    """Plain, YAML/JSON-ready dict in the canonical key order; `entry_from_mapping` reverses it."""
    out: dict[str, Any] = {
        "id": entry.id,
        "kind": entry.kind.value,
        "product_type": entry.product_type,
        "group": entry.group,
        "scientific_name": entry.scientific_name,
    }
    if entry.other_taxa:
        out["other_taxa"] = list(entry.other_taxa)
    out.update({
        "common_names": _lang_map(entry.common_names, True),
        "cites": cites_to_mapping(entry.cites),
        "cues": _lang_map(entry.cues, True),
        "lookalikes": [{"id": la.id, "cue": _lang_map(la.cue, False)} for la in entry.lookalikes],
        "handling": _lang_map(entry.handling, True),
    })
    if entry.key is not None:
        out["key"] = key_to_mapping(entry.key)
    out["sources"] = [{"title": s.title, "url": s.url} for s in entry.sources]
    return out


def group_to_mapping(group: Group) -> dict[str, Any]:
    return {"id": group.id, "names": _lang_map(group.names, False)}


class Catalogue:
    """Validated, read-only set of entries and groups. Build it with `load_catalogue`.

    Construction checks the cross-references (group exists, look-alikes resolve, ids
    unique) and raises `CatalogueError` listing every problem.
    """

    __slots__ = ("_by_id", "_entries", "_groups", "_files", "_version", "_checked")

    def __init__(self, entries: Iterable[CatalogueEntry], groups: Iterable[Group],
                 files: Mapping[str, str] | None = None):
        files = dict(files or {})
        problems: list[Problem] = []
        by_id: dict[str, CatalogueEntry] = {}
        for e in entries:
            if e.id in by_id:
                problems.append(Problem("is defined twice; keep one file per id", files.get(e.id), e.id, "id"))
            by_id[e.id] = e
        group_map: dict[str, Group] = {}
        for g in groups:
            if g.id in group_map:
                problems.append(Problem("is defined twice in the groups", files.get("_groups"), g.id, "id", "group"))
            group_map[g.id] = g
        for e in by_id.values():
            where = files.get(e.id)
            if e.group not in group_map:
                problems.append(Problem(
                    f"'{e.group}' is not a known group; use one of {', '.join(group_map) or '(none)'} "
                    f"or add it to {GROUPS_FILE}", where, e.id, "group"))
            for i, la in enumerate(e.lookalikes):
                if la.id not in by_id:
                    problems.append(Problem(
                        f"'{la.id}' is not a catalogue entry; add {la.id}.yaml or remove this look-alike",
                        where, e.id, f"lookalikes[{i}].id"))
        if problems:
            raise CatalogueError(problems)
        self._entries = tuple(sorted(by_id.values(), key=lambda e: e.id))
        self._by_id = {e.id: e for e in self._entries}
        self._groups = group_map
        self._files = files
        canonical = json.dumps(
            {"entries": [entry_to_mapping(e) for e in self._entries],
             "groups": [group_to_mapping(g) for g in group_map.values()]},
            sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        self._version = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
        dates = sorted(e.cites.checked_against for e in self._entries)
        self._checked = dates[0] if dates else ""

    # -- collection protocol ---------------------------------------------------------
    @property
    def entries(self) -> tuple[CatalogueEntry, ...]:
        return self._entries

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def __getitem__(self, entry_id: str) -> CatalogueEntry:
        try:
            return self._by_id[entry_id]
        except KeyError:
            raise KeyError(f"no catalogue entry {entry_id!r}") from None

    def get(self, entry_id: str, default: CatalogueEntry | None = None) -> CatalogueEntry | None:
        return self._by_id.get(entry_id, default)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    def __iter__(self) -> Iterator[CatalogueEntry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<Catalogue {len(self)} entries, {len(self._groups)} groups, version {self._version}>"

    # -- groups ----------------------------------------------------------------------
    @property
    def groups(self) -> dict[str, Group]:
        return dict(self._groups)

    def group_of(self, entry_id: str) -> Group:
        return self._groups[self[entry_id].group]

    def link(self, a: str, b: str) -> LookAlike | None:
        """The look-alike record of a pair, held by either entry: its cue separates them."""
        for x, y in ((a, b), (b, a)):
            entry = self._by_id.get(x)
            found = entry.lookalike(y) if entry is not None else None
            if found is not None:
                return found
        return None

    def members(self, group_id: str) -> tuple[CatalogueEntry, ...]:
        if group_id not in self._groups:
            raise KeyError(f"no catalogue group {group_id!r}")
        return tuple(e for e in self._entries if e.group == group_id)

    # -- provenance ------------------------------------------------------------------
    @property
    def version(self) -> str:
        """Short sha256 of the canonical content (not of file layout): record it in model bundles."""
        return self._version

    @property
    def checked_against(self) -> str:
        """The oldest `checked_against` of any entry: the Appendices every entry was checked against."""
        return self._checked

    def file_of(self, entry_id: str) -> str | None:
        """Path of the file an entry was loaded from (after overlays), if known."""
        return self._files.get(entry_id)


_IO_NAMES = {"entry_from_mapping": "catalogue_io", "load_catalogue": "catalogue_io",
             "read_history": "catalogue_write", "save_entry": "catalogue_write",
             "save_entries": "catalogue_write"}


def __getattr__(name: str) -> Any:  # re-export the I/O functions without a circular import
    if name in _IO_NAMES:
        import importlib

        return getattr(importlib.import_module(f"{__package__}.{_IO_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LANGUAGES", "DEFAULT_LANGUAGE", "PACKAGED_DIR", "Appendix", "Kind", "Localised", "Source",
    "CitesListing", "ListingRow", "KeyAttributes", "LookAlike", "Group", "CatalogueEntry", "Catalogue",
    "CatalogueError", "Problem",
    "entry_to_mapping", "entry_from_mapping", "group_to_mapping", "load_catalogue", "save_entry",
    "read_history", "save_entries", "normalise_language",
]
