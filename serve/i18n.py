"""One translation layer for every string a person reads.

Strings live in `serve/locales/<lang>/<domain>.json` as flat `{key: text}` maps;
texts use `str.format` placeholders (`{label}`, `{confidence:.0%}`). Domains keep
files small and owned by one part of the app (`app`, `decisions`, `quiz`, `errors`...).

A key missing in a language falls back to English *visibly* (the text is prefixed
with `[en] `), never to the key itself or a blank. A key missing in English is a
programming error and raises `KeyError` naming it, so tests catch it.

French typography (`typeset`): a narrow no-break space before ":", ";", "!", "?" and "%",
and inside « guillemets », so that a line never starts with the punctuation. `t()` applies it
to every French string; renderers that join catalogue text themselves (the species sheet,
the look-alike captions) apply it to what they build.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

LOCALES_DIR = Path(__file__).with_name("locales")

DEFAULT_LANGUAGE = "en"
# Complete languages must have every key; partial ones may miss keys (visible fallback).
COMPLETE_LANGUAGES = ("en", "fr", "es", "pt", "id")
PARTIAL_LANGUAGES = ("ms", "lo")
LANGUAGES = COMPLETE_LANGUAGES + PARTIAL_LANGUAGES
LANGUAGE_NAMES = {
    "en": "English",
    "fr": "Français",
    "es": "Español",
    "pt": "Português (Brasil)",
    "id": "Bahasa Indonesia",
    "ms": "Bahasa Melayu",
    "lo": "ລາວ",
}
FALLBACK_MARK = "[en] "


@dataclass(frozen=True)
class Message:
    """A string to show, not yet translated: a key and its placeholder values.

    Pure modules (decisions, quiz) return Messages so they never depend on a language.
    """

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, lang: str = DEFAULT_LANGUAGE) -> str:
        return t(self.key, lang, **dict(self.params))


@lru_cache(maxsize=None)
def strings(lang: str) -> dict[str, str]:
    """All strings of one language, merged over its domain files."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    merged: dict[str, str] = {}
    folder = LOCALES_DIR / lang
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        clash = merged.keys() & data.keys()
        if clash:
            raise ValueError(f"{path}: keys {sorted(clash)} are defined in two domain files")
        merged.update(data)
    return merged


def normalise_language(code: str | None) -> str:
    """Map a browser or user language code ('pt-BR', 'fr_CM', None) to a supported one."""
    if not code:
        return DEFAULT_LANGUAGE
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def t(key: str, lang: str = DEFAULT_LANGUAGE, /, **params: Any) -> str:
    """Translate `key` into `lang`, filling placeholders; English fallback is marked."""
    lang = normalise_language(lang)
    text = strings(lang).get(key)
    prefix = ""
    if text is None:
        text = strings(DEFAULT_LANGUAGE).get(key)
        if text is None:
            raise KeyError(f"translation key {key!r} is missing from serve/locales/en/")
        prefix = FALLBACK_MARK if lang != DEFAULT_LANGUAGE else ""
    return typeset(prefix + text.format(**params) if params else prefix + text, lang)


# Which form a count takes (CLDR's cardinal rules, integers only): French and Brazilian
# Portuguese treat 0 and 1 as singular, English and Spanish only 1; Indonesian, Malay and
# Lao have one form.
_ONE = {"en": (1,), "es": (1,), "fr": (0, 1), "pt": (0, 1)}


def plural_form(count: int, lang: str = DEFAULT_LANGUAGE) -> str:
    """"one" or "other": the form of a word that goes with `count` in `lang`."""
    return "one" if count in _ONE.get(normalise_language(lang), ()) else "other"


def tn(key: str, count: int, lang: str = DEFAULT_LANGUAGE, /, **params: Any) -> str:
    """`t(key + ".one" | ".other")` with `count` filled in: "1 photo", "2 photos"."""
    return t(f"{key}.{plural_form(count, lang)}", lang, count=count, **params)


NARROW_NBSP = "\u202f"
# An ordinary or no-break space before high punctuation -> a narrow no-break space.
_SPACED = re.compile(r"[ \u00a0]+([:;!?])(?=\s|$|[*_)»\"'<])")
# No space at all before ":", "!" or "?" that ends a word ("Note:", "**Nom:**"); never in
# URLs, times or HTML entities (there the mark is not followed by a space or the end).
_TIGHT = re.compile(r"(?<=[A-Za-zÀ-ÖØ-öø-ÿ)\]*»])([:!?])(?=\s|$|\*\*)")
_PERCENT = re.compile(r"(?<=\d)[ \u00a0\u202f]?%")
_GUILLEMETS = (re.compile(r"«[ \u00a0\u202f]?"), re.compile(r"[ \u00a0\u202f]?»"))


def typeset(text: str, lang: str) -> str:
    """`text` with French spacing when `lang` is French; unchanged otherwise (idempotent)."""
    if normalise_language(lang) != "fr" or not text:
        return text
    text = _SPACED.sub(NARROW_NBSP + r"\1", text)
    text = _TIGHT.sub(NARROW_NBSP + r"\1", text)
    text = _PERCENT.sub(NARROW_NBSP + "%", text)
    text = _GUILLEMETS[0].sub("«" + NARROW_NBSP, text)
    return _GUILLEMETS[1].sub(NARROW_NBSP + "»", text)
