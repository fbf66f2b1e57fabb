"""Which catalogue texts lack a translation, and filling the gaps from a translation memory.

Why: an officer or trainee reads the names, cues, look-alike cues, handling steps, CITES
notes, listing rows and group names of the catalogue. In a complete language (the app's
``fr``, ``es``, ``pt``, ``id``) every one of them must be there; an untranslated text is
shown in English, marked as such. Many texts repeat across entries (handling steps), so
translators work on a *memory* - each English text once, with its translations - rather
than entry by entry.

* `missing_texts(catalogue, langs)` - every (entry or group, field, language) without text.
* `TranslationMemory` - English text -> {language: text}; `read` / `dump` as YAML; `learn`
  collects what the catalogue already has.
* `fill(catalogue, memory)` - the entry and group mappings whose gaps the memory fills
  (a list field - cues, handling - only when every item of it is in the memory).

`python scripts/catalogue_i18n.py` is the command line (status, to-do list, apply).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import yaml

from .catalogue import Catalogue, CatalogueEntry, entry_to_mapping, group_to_mapping
from .localised import DEFAULT_LANGUAGE

LIST_FIELDS = ("cues", "handling")  # translated item by item, in order


@dataclass(frozen=True)
class MissingText:
    """One text an officer reads that has no translation in `lang`."""

    owner: str  # entry id, or "group:<id>"
    field: str  # "cues", "handling", "common_names", "lookalikes.<id>", "cites.note",
    #             "cites.listings[<i>]", "names" (a group)
    lang: str
    english: tuple[str, ...]  # the English text(s) to translate

    def __str__(self) -> str:
        return f"{self.owner} {self.field} [{self.lang}]"


def _texts(entry: CatalogueEntry) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(field, {lang: text or tuple of texts}) of every text of an entry an officer reads."""
    yield "common_names", entry.common_names
    yield "cues", entry.cues
    for la in entry.lookalikes:
        yield f"lookalikes.{la.id}", la.cue
    yield "handling", entry.handling
    yield "cites.note", entry.cites.notes
    for i, row in enumerate(entry.cites.listings):
        yield f"cites.listings[{i}]", row.covers_texts


def missing_texts(catalogue: Catalogue, langs: Iterable[str]) -> list[MissingText]:
    """Every text of `catalogue` (entries, then groups) that lacks a translation in `langs`."""
    langs = [lang for lang in langs if lang != DEFAULT_LANGUAGE]
    out = []
    for entry in catalogue:
        for field, values in _texts(entry):
            english = values[DEFAULT_LANGUAGE]
            english = tuple(english) if isinstance(english, tuple) else (english,)
            out += [MissingText(entry.id, field, lang, english) for lang in langs if not values.get(lang)]
    for group in catalogue.groups.values():
        out += [MissingText(f"group:{group.id}", "names", lang, (group.names[DEFAULT_LANGUAGE],))
                for lang in langs if not group.names.get(lang)]
    return out


class TranslationMemory:
    """English text -> {language: translation}. Whitespace inside a text does not matter
    (YAML folds long lines)."""

    def __init__(self, items: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._items: dict[str, dict[str, str]] = {}
        for english, translations in (items or {}).items():
            for lang, text in translations.items():
                self.add(english, lang, text)

    @staticmethod
    def _key(text: str) -> str:
        return " ".join(text.split())

    def add(self, english: str, lang: str, text: str) -> None:
        if lang == DEFAULT_LANGUAGE or not isinstance(text, str) or not text.strip():
            return
        self._items.setdefault(self._key(english), {})[lang] = " ".join(text.split())

    def get(self, english: str, lang: str) -> str | None:
        return self._items.get(self._key(english), {}).get(lang)

    def merge(self, other: "TranslationMemory") -> "TranslationMemory":
        """This memory with `other`'s translations added (other wins where both have one)."""
        for english, translations in other._items.items():
            for lang, text in translations.items():
                self.add(english, lang, text)
        return self

    def __len__(self) -> int:
        return len(self._items)

    @classmethod
    def learn(cls, catalogue: Catalogue) -> "TranslationMemory":
        """What the catalogue already translates (lists item by item when the lengths match)."""
        memory = cls()
        for entry in catalogue:
            for field, values in _texts(entry):
                if field == "common_names":
                    continue
                english = values[DEFAULT_LANGUAGE]
                for lang, text in values.items():
                    if isinstance(english, tuple):
                        if len(text) == len(english):
                            for en, tr in zip(english, text):
                                memory.add(en, lang, tr)
                    else:
                        memory.add(english, lang, text)
        for group in catalogue.groups.values():
            for lang, text in group.names.items():
                memory.add(group.names[DEFAULT_LANGUAGE], lang, text)
        return memory

    @classmethod
    def read(cls, path: Path | str) -> "TranslationMemory":
        """A YAML list of {en: ..., fr: ..., ...} (the format `dump` and the to-do list use)."""
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a list of {{en: ..., fr: ...}} items, got {type(data).__name__}")
        memory = cls()
        for i, item in enumerate(data):
            if not isinstance(item, Mapping) or not isinstance(item.get(DEFAULT_LANGUAGE), str):
                raise ValueError(f"{path}: item {i} needs an English text under 'en', got {item!r}")
            for lang, text in item.items():
                memory.add(item[DEFAULT_LANGUAGE], lang, text)
        return memory


def todo(missing: Iterable[MissingText], memory: TranslationMemory) -> list[dict[str, str]]:
    """The English texts still to translate, each once: [{en: ..., <lang>: ''}, ...] listing
    the languages that lack it (what a translator fills in for `fill`)."""
    out: dict[str, dict[str, str]] = {}
    for m in missing:
        if m.field == "common_names":
            continue  # names are per entry: edit the entry itself
        for english in m.english:
            if memory.get(english, m.lang) is None:
                out.setdefault(english, {DEFAULT_LANGUAGE: english})[m.lang] = ""
    return list(out.values())


def dump(items: list[dict[str, str]]) -> str:
    return yaml.safe_dump(items, allow_unicode=True, sort_keys=False, width=100)


def _fill_map(values: dict[str, Any], memory: TranslationMemory, langs: Iterable[str]) -> bool:
    """Fill missing languages of one {lang: text or [texts]} map in place; True if changed."""
    english = values[DEFAULT_LANGUAGE]
    changed = False
    for lang in langs:
        if values.get(lang):
            continue
        if isinstance(english, list):
            items = [memory.get(e, lang) for e in english]
            if all(items):
                values[lang], changed = items, True
        elif (text := memory.get(english, lang)) is not None:
            values[lang], changed = text, True
    return changed


def fill(catalogue: Catalogue, memory: TranslationMemory, langs: Iterable[str]
         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """(entry mappings that changed, all group mappings if any group changed, else None).
    Only gaps are filled: an existing translation is never replaced."""
    langs = [lang for lang in langs if lang != DEFAULT_LANGUAGE]
    entries = []
    for entry in catalogue:
        m = entry_to_mapping(entry)
        changed = False
        for field in LIST_FIELDS:
            changed |= _fill_map(m[field], memory, langs)
        for la in m["lookalikes"]:
            changed |= _fill_map(la["cue"], memory, langs)
        changed |= _fill_map(m["cites"]["note"], memory, langs)
        for row in m["cites"].get("listings") or []:
            changed |= _fill_map(row["covers"], memory, langs)
        if changed:
            entries.append(m)
    groups = [group_to_mapping(g) for g in catalogue.groups.values()]
    groups_changed = False
    for g in groups:
        groups_changed |= _fill_map(g["names"], memory, langs)
    return entries, (groups if groups_changed else None)
