"""Text kept per language, and how it is read back: the language asked for, else English,
saying which one was used.

Why its own module: the catalogue's records (`species_data.catalogue`) and its legal side
(`species_data.cites`) both hold translated text, and neither may import the other's
helpers without a cycle.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, Mapping, TypeVar

LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "pt", "id", "ms", "lo")
DEFAULT_LANGUAGE = "en"

T = TypeVar("T")


@dataclass(frozen=True)
class Localised(Generic[T]):
    """A value in some language; ``fell_back`` is True when it is not the language asked for."""

    value: T
    lang_used: str
    fell_back: bool


def normalise_language(lang: str | None) -> str:
    """'fr-CA' -> 'fr', 'PT_br' -> 'pt'; None/'' -> English."""
    if not lang:
        return DEFAULT_LANGUAGE
    return str(lang).strip().replace("_", "-").split("-")[0].lower()


def pick(values: Mapping[str, T], lang: str | None) -> Localised[T]:
    """`values[lang]` if present and non-empty, else the English value, marked as fallen back."""
    wanted = normalise_language(lang)
    if wanted in values and values[wanted]:
        return Localised(values[wanted], wanted, False)
    return Localised(values[DEFAULT_LANGUAGE], DEFAULT_LANGUAGE, wanted != DEFAULT_LANGUAGE)


def frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy in the canonical language order (unknown codes dropped)."""
    return MappingProxyType({lang: mapping[lang] for lang in LANGUAGES if lang in mapping})


def as_language_map(value: Mapping[str, T] | T) -> Mapping[str, T]:
    """A plain value is English; a mapping is kept as it is (then frozen)."""
    return frozen(value if isinstance(value, Mapping) else {DEFAULT_LANGUAGE: value})
