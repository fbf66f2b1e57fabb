"""The trainer's catalogue form as plain values: its fields, the entry mapping they make, and
what is wrong with them in words a trainer understands.

Why: a trainer fills in a form, not a YAML file. Each problem is tied to the form field it
belongs to and says what to do ("Choose the CITES Appendix (or 'not listed')"), so the page
can show it beside that field - never a list of YAML paths and server file names.

* `EntryForm` - the fields: id, kind, product type, group, scientific name, names in every
  language, Appendix (no default), note, checked-against, cues, handling, look-alikes (picked
  from the catalogue, one cue each) and sources.
* `form_from_mapping` / `form_to_mapping` - an entry's mapping (`species_data.entry_to_mapping`)
  and back; languages and fields the form does not show are kept.
* `check(form, catalogue)` - {field: Message} of everything the form can get wrong, before the
  catalogue's own validation; `field_of(problem_field)` places a problem that validation finds
  anyway.

No gradio here: Messages out, rendered by the page in the trainer's language.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

from species_data import Appendix, Kind, LANGUAGES
from species_data.catalogue_io import ID_RE, SCIENTIFIC_RE
from species_data.cites import CHECKED_RE, is_cites_source

from serve.i18n import Message

NAME_FIELDS = tuple(f"names_{lang}" for lang in LANGUAGES)  # names_en is required
LOOKALIKE_ROW = re.compile(r"\(([a-z][a-z0-9_]*)\)\s*$")  # "Bone carving (bone_carving)"


@dataclass(frozen=True)
class EntryForm:
    """What a trainer edits. Text is English except the names, given in every language."""

    id: str = ""
    kind: str = ""
    product_type: str = ""
    group: str = ""
    scientific_name: str = ""
    names_en: str = ""  # one per line, the first is shown
    names_fr: str = ""
    names_es: str = ""
    names_pt: str = ""
    names_id: str = ""
    names_ms: str = ""
    names_lo: str = ""
    appendix: str = ""  # no default: "I", "II", "III" or "none", chosen by the trainer
    cites_note: str = ""
    checked_against: str = ""
    cues: str = ""  # one per line
    handling: str = ""  # one per line
    lookalikes: tuple[str, ...] = ()  # entry ids, picked from the catalogue
    lookalike_cues: tuple[tuple[str, str], ...] = field(default=())  # (row label, cue) per picked id
    sources: str = ""  # "title | https://..." per line

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def values(self) -> list[Any]:
        return [getattr(self, n) for n in self.field_names()]

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> "EntryForm":
        """From what the page sends (None for an empty box, lists for the picker and table)."""
        data = dict(zip(cls.field_names(), values))
        text = {k: str(v or "") for k, v in data.items() if k not in ("lookalikes", "lookalike_cues")}
        picked = tuple(str(x) for x in (data.get("lookalikes") or ()) if x)
        rows = tuple((str(r[0] or ""), str(r[1] or "")) for r in (data.get("lookalike_cues") or ())
                     if isinstance(r, (list, tuple)) and len(r) >= 2)
        return cls(**text, lookalikes=picked, lookalike_cues=rows)

    def cue_for(self, other_id: str) -> str:
        """The cue typed for a picked look-alike (matched by the id its row shows)."""
        for label, cue in self.lookalike_cues:
            match = LOOKALIKE_ROW.search(label)
            if match and match.group(1) == other_id:
                return cue.strip()
        return ""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def row_label(name: str, entry_id: str) -> str:
    return f"{name} ({entry_id})"


def lookalike_rows(picked: Sequence[str], current: Sequence[Sequence[str]], name_of) -> list[list[str]]:
    """The cue table for the picked look-alikes: one row each, in picking order, keeping cues
    already typed."""
    typed = EntryForm(lookalike_cues=tuple((str(r[0]), str(r[1])) for r in current or () if len(r) >= 2))
    return [[row_label(name_of(i), i), typed.cue_for(i)] for i in picked]


def form_from_mapping(m: Mapping[str, Any], name_of=lambda i: i) -> EntryForm:
    """The form of an entry mapping (`species_data.entry_to_mapping`)."""
    en = lambda d: (d or {}).get("en") or []  # noqa: E731
    names = m.get("common_names") or {}
    cites = m.get("cites") or {}
    note = cites.get("note")
    looks = m.get("lookalikes") or []
    return EntryForm(
        id=m.get("id", ""), kind=m.get("kind", ""), product_type=m.get("product_type") or "",
        group=m.get("group", ""), scientific_name=m.get("scientific_name") or "",
        **{f"names_{lang}": "\n".join(names.get(lang) or []) for lang in LANGUAGES},
        appendix=cites.get("appendix", ""),
        cites_note=(note or {}).get("en", "") if isinstance(note, Mapping) else (note or ""),
        checked_against=cites.get("checked_against", ""),
        cues="\n".join(en(m.get("cues"))), handling="\n".join(en(m.get("handling"))),
        lookalikes=tuple(la["id"] for la in looks),
        lookalike_cues=tuple((row_label(name_of(la["id"]), la["id"]), (la.get("cue") or {}).get("en", ""))
                             for la in looks),
        sources="\n".join(f"{s['title']} | {s['url']}" for s in m.get("sources") or []),
    )


def form_to_mapping(form: EntryForm, existing: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An entry mapping for `species_data.save_entry`: the form over `existing` (whose other
    languages of the English texts, other_taxa, key attributes and listing rows are kept). A
    changed English text drops the translations of the old one (they would say something else)."""
    old = dict(existing or {})

    def with_en(key: str, values: list[str]) -> dict[str, Any]:
        before = old.get(key) or {}
        if list(before.get("en") or []) != values:
            return {"en": values}
        return {"en": values, **{k: v for k, v in before.items() if k != "en"}}

    old_cues = {la["id"]: la.get("cue") or {} for la in old.get("lookalikes") or []}
    lookalikes = []
    for other in form.lookalikes:
        cue, before = form.cue_for(other), old_cues.get(other, {})
        kept = {k: v for k, v in before.items() if k != "en"} if before.get("en") == cue else {}
        lookalikes.append({"id": other, "cue": {"en": cue, **kept}})
    old_cites = old.get("cites") or {}
    old_note = old_cites.get("note") or {}
    old_note = old_note if isinstance(old_note, Mapping) else {"en": old_note}
    note = {"en": form.cites_note.strip()}
    if old_note.get("en") == note["en"]:
        note.update({k: v for k, v in old_note.items() if k != "en"})
    sources = []
    for line in _lines(form.sources):
        title, _, url = line.rpartition("|")
        sources.append({"title": title.strip(), "url": url.strip()})
    names = {lang: _lines(getattr(form, f"names_{lang}")) for lang in LANGUAGES}
    return {
        "id": form.id.strip(),
        "kind": form.kind.strip(),
        "product_type": form.product_type.strip() or None,
        "group": form.group.strip(),
        "scientific_name": form.scientific_name.strip() or None,
        **{k: v for k, v in old.items() if k == "other_taxa"},
        "common_names": {lang: v for lang, v in names.items() if v},
        "cites": {"appendix": form.appendix.strip(), "note": note,
                  **{k: v for k, v in old_cites.items() if k == "listings"},
                  "checked_against": form.checked_against.strip()},
        "cues": with_en("cues", _lines(form.cues)),
        "lookalikes": lookalikes,
        "handling": with_en("handling", _lines(form.handling)),
        **{k: v for k, v in old.items() if k == "key"},
        "sources": sources,
    }


# --- what is wrong, in plain words -------------------------------------------------------


def check(form: EntryForm, catalogue, groups: Mapping[str, Any] | None = None) -> dict[str, Message]:
    """Problems the trainer can fix, one per form field (the first found), as Messages."""
    out: dict[str, Message] = {}

    def say(where: str, key: str, **params: Any) -> None:
        out.setdefault(where, Message(f"trainer.check.{key}", params))

    groups = catalogue.groups if groups is None else groups
    entry_id = form.id.strip()
    if not entry_id:
        say("id", "id_missing")
    elif not ID_RE.match(entry_id):
        say("id", "id_bad", value=entry_id)
    kinds = {k.value for k in Kind}
    if form.kind not in kinds:
        say("kind", "kind_missing")
    elif form.kind == Kind.PART_OR_PRODUCT.value and not form.product_type.strip():
        say("product_type", "product_type_missing")
    if not form.group.strip():
        say("group", "group_missing")
    elif form.group.strip() not in groups:
        say("group", "group_unknown", value=form.group.strip())
    sci = form.scientific_name.strip()
    if not sci and form.kind != Kind.LOOKALIKE.value:
        say("scientific_name", "scientific_missing")
    elif sci and not SCIENTIFIC_RE.match(sci):
        say("scientific_name", "scientific_bad", value=sci)
    if not _lines(form.names_en):
        say("names_en", "names_missing")
    for lang in LANGUAGES:
        for name in _lines(getattr(form, f"names_{lang}")):
            if name.count("(") != name.count(")"):
                say(f"names_{lang}", "name_brackets", value=name)
    if form.appendix not in {a.value for a in Appendix}:
        say("appendix", "appendix_missing")
    if not form.cites_note.strip():
        say("cites_note", "note_missing")
    if not CHECKED_RE.match(form.checked_against.strip()):
        say("checked_against", "checked_bad")
    if not _lines(form.cues):
        say("cues", "cues_missing")
    if not _lines(form.handling):
        say("handling", "handling_missing")
    for other in form.lookalikes:
        if other == entry_id:
            say("lookalikes", "lookalike_self")
        elif other not in catalogue:
            say("lookalikes", "lookalike_unknown", value=other)
        elif not form.cue_for(other):
            say("lookalikes", "lookalike_cue", name=catalogue[other].common_name("en"))
    lines = _lines(form.sources)
    if not lines:
        say("sources", "sources_missing")
    for n, line in enumerate(lines, 1):
        title, bar, url = line.rpartition("|")
        if not bar or not title.strip() or not re.match(r"^https?://\S+$", url.strip()):
            say("sources", "source_bad", line=n)
    if "sources" not in out and form.appendix in ("I", "II", "III") and not any(
            is_cites_source(line.rpartition("|")[2].strip()) for line in lines):
        say("sources", "source_cites")
    return out


# Where a problem the catalogue's validation finds belongs on the form (longest prefix first).
_FIELDS = (("common_names.", None), ("cites.appendix", "appendix"), ("cites.note", "cites_note"),
           ("cites.checked_against", "checked_against"), ("cites", "appendix"), ("product_type", "product_type"),
           ("scientific_name", "scientific_name"), ("lookalikes", "lookalikes"), ("sources", "sources"),
           ("handling", "handling"), ("cues", "cues"), ("group", "group"), ("kind", "kind"), ("id", "id"))


def field_of(problem_field: str | None) -> str:
    """The form field a validation problem belongs to ("" when the form does not show it)."""
    name = problem_field or ""
    if name.startswith("common_names."):
        lang = name.split(".")[1].split("[")[0]
        return f"names_{lang}" if f"names_{lang}" in NAME_FIELDS else "names_en"
    return next((f for prefix, f in _FIELDS if f and name.startswith(prefix)), "")
