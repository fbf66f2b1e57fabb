#!/usr/bin/env python3
"""Catalogue translations: what is missing, a to-do list for translators, and applying it.

    python scripts/catalogue_i18n.py status                 # missing texts per language
    python scripts/catalogue_i18n.py todo fr es > todo.yaml  # each English text once, to fill in
    python scripts/catalogue_i18n.py apply todo.yaml         # write the translations into the files

`todo` lists every English text (cue, look-alike cue, handling step, CITES note, listing
row, group name) that a language lacks and that the catalogue does not already translate
elsewhere, as `- {en: ..., fr: '', es: ''}`. Fill in the empty texts (keep the meaning, the
uncertainty and the terms of serve/locales/GLOSSARY.md) and `apply` the file: it fills only
gaps, never replaces a translation, validates every entry like the loader, and rewrites the
changed files atomically in canonical form. `--dir` chooses the catalogue folder (default:
the packaged one, species_data/catalogue). Exit status 1 when `status` finds a gap in a
complete language.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from species_data import PACKAGED_DIR, entry_from_mapping, load_catalogue  # noqa: E402
from species_data.catalogue import GROUPS_FILE, Catalogue, Group  # noqa: E402
from species_data.catalogue_write import atomic_write_text, dump_entry_yaml, dump_groups_yaml  # noqa: E402
from species_data.translations import TranslationMemory, dump, fill, missing_texts, todo  # noqa: E402

COMPLETE = ("fr", "es", "pt", "id")  # the app's complete languages (serve.i18n), English aside


def status(catalogue: Catalogue, langs: list[str]) -> int:
    missing = missing_texts(catalogue, langs)
    by_lang = Counter(m.lang for m in missing)
    for lang in langs:
        fields = Counter(m.field.split(".")[0].split("[")[0] for m in missing if m.lang == lang)
        detail = ", ".join(f"{f} {n}" for f, n in sorted(fields.items())) or "complete"
        print(f"{lang:<3} {by_lang[lang]:>5} missing  ({detail})")
    gaps = [m for m in missing if m.lang in COMPLETE]
    return 1 if gaps else 0


def apply(catalogue: Catalogue, memory: TranslationMemory, langs: list[str], directory: Path) -> int:
    entries, groups = fill(catalogue, memory, langs)
    built = [entry_from_mapping(m, source=directory / f"{m['id']}.yaml") for m in entries]  # validates
    for m, entry in zip(entries, built):
        atomic_write_text(directory / f"{entry.id}.yaml", dump_entry_yaml(m))
    if groups is not None:
        atomic_write_text(directory / GROUPS_FILE, dump_groups_yaml(Group(g["id"], g["names"]) for g in groups))
    load_catalogue(directory)  # the whole catalogue still loads
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} updated"
          + (", groups updated" if groups is not None else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=PACKAGED_DIR, help="catalogue folder (default: packaged)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("status", "todo"):
        p = sub.add_parser(name)
        p.add_argument("languages", nargs="*", default=list(COMPLETE))
    p = sub.add_parser("apply")
    p.add_argument("file", type=Path)
    p.add_argument("languages", nargs="*", default=list(COMPLETE))
    args = parser.parse_args(argv)

    catalogue = load_catalogue(args.dir)
    if args.command == "status":
        return status(catalogue, args.languages)
    if args.command == "todo":
        missing = missing_texts(catalogue, args.languages)
        sys.stdout.write(dump(todo(missing, TranslationMemory.learn(catalogue))))
        return 0
    memory = TranslationMemory.learn(catalogue).merge(TranslationMemory.read(args.file))
    return apply(catalogue, memory, args.languages, args.dir)


if __name__ == "__main__":
    sys.exit(main())
