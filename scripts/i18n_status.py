#!/usr/bin/env python3
"""Translation status: what each language lacks, what it has that English no longer has,
and where its placeholders differ from English.

    .venv/bin/python scripts/i18n_status.py            # summary + what to fix
    .venv/bin/python scripts/i18n_status.py -v         # also list missing keys of partial languages
    .venv/bin/python scripts/i18n_status.py fr pt      # only these languages
    .venv/bin/python scripts/i18n_status.py --json     # the same as JSON, missing keys with
                                                       # their English text, per domain file

English (`serve/locales/en/<domain>.json`) is the reference. For every other language:

- missing:  keys English has and the language lacks (shown with the English text, so the
            list is the to-do list after new English strings are added);
- stale:    keys the language has and English does not (renamed or removed in English);
- placeholder mismatches: a text whose `{placeholders}` differ from English in name,
            conversion (`!r`) or format spec (`:.0%`), counted with repeats;
- markup (warning only): the text's Markdown frame differs from English (leading `#`
            heading marks, leading `>` or `_`, number of `**`) — usually the English text
            changed after it was translated; check the translation against English;
- misplaced (note only): a key that lives in another domain file than in English.

The catalogue is checked too: every text an officer or trainee reads there (names, cues,
look-alike cues, handling steps, CITES notes, listing rows, group names) must exist in every
complete language (`species_data.translations.missing_texts`; `scripts/catalogue_i18n.py`
makes the to-do list and applies it).

Exit status 1 when a complete language (serve.i18n.COMPLETE_LANGUAGES) misses a key or a
catalogue text, or when any language has a stale key, a placeholder mismatch or an unreadable
file (all of which make tests/test_i18n.py fail). Missing keys of partial languages only get
reported: the app shows those in English, marked "[en] ".
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import string
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from serve.i18n import COMPLETE_LANGUAGES, DEFAULT_LANGUAGE, LANGUAGES, LOCALES_DIR  # noqa: E402
from species_data import load_catalogue  # noqa: E402
from species_data.translations import missing_texts  # noqa: E402


def _no_duplicates(pairs):
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"key {key!r} appears twice")
        seen[key] = value
    return seen


def load(lang: str) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """{key: (domain, text)} of one language, and the problems met while reading it."""
    out: dict[str, tuple[str, str]] = {}
    problems: list[str] = []
    folder = LOCALES_DIR / lang
    if not folder.is_dir():
        return out, [f"folder {folder} does not exist"]
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicates)
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{path.name}: unreadable ({exc})")
            continue
        if not isinstance(data, dict):
            problems.append(f"{path.name}: not a flat {{key: text}} object")
            continue
        for key, text in data.items():
            if not isinstance(text, str):
                problems.append(f"{path.name}: {key} is not a string")
            elif not text.strip():
                problems.append(f"{path.name}: {key} is blank")
            elif key in out:
                problems.append(f"{path.name}: {key} is also defined in {out[key][0]}.json")
            else:
                out[key] = (path.stem, text)
    return out, problems


def placeholders(text: str) -> Counter:
    """Counter of (name, conversion, format spec) of a str.format text; raises on bad braces."""
    return Counter((name, conv or "", spec or "")
                   for _, name, spec, conv in string.Formatter().parse(text) if name is not None)


def markup(text: str) -> tuple:
    """The Markdown frame of a text: heading level, quote/italic start and end, bold marks."""
    stripped = text.strip()
    heading = len(stripped) - len(stripped.lstrip("#")) if stripped.startswith("#") else 0
    return (heading, stripped.startswith(">"), stripped.startswith("_"), stripped.endswith("_"),
            stripped.count("**"))


def _markup_diff(text: str, english: str) -> str:
    names = ("heading '#' marks", "starts with '>'", "starts with '_'", "ends with '_'", "'**' marks")
    ours, theirs = markup(text), markup(english)
    return "; ".join(f"{n}: {a} vs English {b}" for n, a, b in zip(names, ours, theirs) if a != b)


def _fmt(fields: Counter) -> str:
    parts = []
    for (name, conv, spec), n in sorted(fields.items()):
        p = "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
        parts.append(p if n == 1 else f"{p}x{n}")
    return " ".join(parts) or "(none)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("languages", nargs="*", help=f"languages to check (default: all of "
                        f"{', '.join(c for c in LANGUAGES if c != DEFAULT_LANGUAGE)})")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also list the missing keys of partial languages")
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON (missing keys grouped by domain file, "
                             "with their English text, ready to translate)")
    args = parser.parse_args(argv)

    unknown = [c for c in args.languages if c not in LANGUAGES]
    if unknown:
        parser.error(f"unknown language(s) {', '.join(unknown)}; choose from {', '.join(LANGUAGES)}")
    langs = [c for c in (args.languages or LANGUAGES) if c != DEFAULT_LANGUAGE]

    if not args.json:
        failed, _ = report(langs, args.verbose)
        return 1 if failed else 0
    with contextlib.redirect_stdout(io.StringIO()):  # stdout carries only the JSON
        failed, result = report(langs, args.verbose)
    print(json.dumps({"ok": not failed, **result}, ensure_ascii=False, indent=2))
    return 1 if failed else 0


def report(langs: list[str], verbose: bool) -> tuple[bool, dict]:
    """Print the status of `langs`; return (whether it fails, the same as data)."""
    english, en_problems = load(DEFAULT_LANGUAGE)
    failed = False
    if en_problems or not english:
        en_problems = en_problems or ["no strings at all"]
        print("English (reference) has problems:")
        for p in en_problems:
            print(f"  {p}")
        failed = True
    en_fields: dict[str, Counter] = {}
    for key, (_, text) in english.items():
        try:
            en_fields[key] = placeholders(text)
        except ValueError as exc:
            en_problems.append(f"{key}: bad braces ({exc})")
            print(f"  en: {key}: bad braces ({exc})")
            failed = True

    domains = sorted({d for d, _ in english.values()})
    print(f"English: {len(english)} keys in {len(domains)} domain file(s): {', '.join(domains)}")
    print()
    header = (f"{'lang':<5} {'kind':<9} {'translated':>11} {'missing':>8} {'stale':>6} "
              f"{'placeholders':>13} {'markup':>7} {'misplaced':>10}")
    print(header)
    print("-" * len(header))

    details: list[str] = []
    per_lang: dict[str, dict] = {}
    for lang in langs:
        complete = lang in COMPLETE_LANGUAGES
        have, problems = load(lang)
        missing = [k for k in english if k not in have]
        stale = [k for k in have if k not in english]
        mismatched, misplaced, marked = [], [], []
        for key, (domain, text) in have.items():
            if key not in english:
                continue
            if domain != english[key][0]:
                misplaced.append(f"{key}: in {domain}.json, English has it in {english[key][0]}.json")
            try:
                fields = placeholders(text)
            except ValueError as exc:
                mismatched.append(f"{key}: bad braces ({exc})")
                continue
            if key in en_fields and fields != en_fields[key]:
                mismatched.append(f"{key}: has {_fmt(fields)}, English has {_fmt(en_fields[key])}")
            diff = _markup_diff(text, english[key][1])
            if diff:
                marked.append(f"{key}: {diff}")

        translated = len(english) - len(missing)
        missing_by_domain: dict[str, dict[str, str]] = {}
        for key in missing:
            missing_by_domain.setdefault(english[key][0], {})[key] = english[key][1]
        per_lang[lang] = {"complete": complete, "translated": translated, "total": len(english),
                        "missing": missing_by_domain, "stale": stale, "placeholders": mismatched,
                        "markup": marked, "misplaced": misplaced, "errors": problems}
        print(f"{lang:<5} {'complete' if complete else 'partial':<9} "
              f"{translated:>5}/{len(english):<5} {len(missing):>8} {len(stale):>6} "
              f"{len(mismatched):>13} {len(marked):>7} {len(misplaced):>10}")

        lang_failed = bool(problems or stale or mismatched or (complete and missing))
        failed |= lang_failed
        block: list[str] = []
        for p in problems:
            block.append(f"  ERROR {p}")
        if missing and (complete or verbose):
            label = "MISSING" if complete else "missing (shown in English)"
            for key in missing:
                domain, text = english[key]
                block.append(f"  {label} {domain}.json  {key}  = {json.dumps(text, ensure_ascii=False)}")
        elif missing:
            by_domain = Counter(english[k][0] for k in missing)
            block.append("  missing (partial, shown in English): " +
                         ", ".join(f"{d}.json {n}" for d, n in sorted(by_domain.items())) +
                         "  — use -v to list them")
        for key in stale:
            block.append(f"  STALE {have[key][0]}.json  {key}  (not in English: remove or rename it)")
        for m in mismatched:
            block.append(f"  PLACEHOLDERS {m}")
        for m in marked:
            block.append(f"  warning, markup differs: {m}")
        for m in misplaced:
            block.append(f"  note: {m}")
        if block:
            details.append(f"{lang} ({'complete' if complete else 'partial'}):")
            details.extend(block)

    if details:
        print()
        print("\n".join(details))

    catalogue_gaps = catalogue_report(langs, verbose, per_lang)
    failed |= any(m.lang in COMPLETE_LANGUAGES for m in catalogue_gaps)
    print()
    print("FAIL: see above" if failed else "OK: every complete language has every key and every "
          "catalogue text; no stale keys or placeholder mismatches")
    return failed, {"english_errors": en_problems, "languages": per_lang}


def catalogue_report(langs: list[str], verbose: bool, per_lang: dict) -> list:
    """Print (and add to `per_lang`) the catalogue texts each language lacks; return them."""
    missing = missing_texts(load_catalogue(), langs)
    print()
    print("Catalogue (packaged): texts without a translation")
    for lang in langs:
        mine = [m for m in missing if m.lang == lang]
        complete = lang in COMPLETE_LANGUAGES
        per_lang[lang]["catalogue_missing"] = [str(m) for m in mine]
        print(f"  {lang:<5} {len(mine):>5}" + ("" if mine else "  (complete)"))
        if mine and (complete or verbose):
            for m in mine[:50]:
                print(f"    {'MISSING' if complete else 'missing'} {m}")
            if len(mine) > 50:
                print(f"    ... and {len(mine) - 50} more: python scripts/catalogue_i18n.py todo {lang}")
    return missing


if __name__ == "__main__":
    sys.exit(main())
