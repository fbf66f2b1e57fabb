"""Finding English on a page that should be in another language (the French walk of
`tests/test_browser_languages.py`).

How English is recognised, without guessing at the language of arbitrary text:
the app can only show English that comes from somewhere, so every English string the app
owns becomes a *marker* - unless the other language says exactly the same thing:

* every value of `serve/locales/en/*.json` (the app's strings and its translations of
  Gradio's own strings), split at its `{placeholders}` into literal pieces; a piece of at
  least three words is looked for anywhere in the page, a shorter one only as a whole text;
* Gradio's built-in English for the strings it draws itself ("Drop File Here", "Click to
  Upload", "Use via API", ...);
* every English text of the catalogue an officer or trainee reads (names, cues, look-alike
  cues, handling, CITES notes, listing rows, group names);
* anything that looks like a raw translation key (`common.complete`, `app.tab.quiz`) and the
  app's own fallback mark `[en] `.

A marker that also appears in the other language's strings or catalogue texts (a name such
as "Jaguar", a word such as "Photos") is not English evidence and is dropped. The titles of
the catalogue's sources are shown as published (a citation is not translated) and are not
searched.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass

GRADIO_ENGLISH = (  # Gradio's own English for strings it draws (6.x), not in our locale files
    "Drop File Here", "Drop Image Here", "Drop Media Here", "Click to Upload", "Use via API",
    "Use via API or MCP", "Built with Gradio", "Settings", "Paste from Clipboard", "Incorrect Credentials",
    "Login", "username", "password", "Loading", "Download All", "Clear", "Remove Image", "Uploading...",
)
RAW_KEY = re.compile(r"\b(?:app|quiz|decision|trainer|checklist|key|gradio|common|upload_text|errors|"
                     r"login|status|blocks|dataframe|image|file)\.[a-z_]+(?:\.[a-z_]+)*\b")
_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")


def _clean(text: str) -> str:
    text = text.replace("\u202f", " ").replace("\u00a0", " ")
    text = re.sub(r"[*_#>`]+", " ", text)
    return " ".join(text.split())


def _loose(text: str) -> str:
    """For comparing a citation as shown (with French spacing) to the catalogue's."""
    return re.sub(r"\s+([:;!?%])", r"\1", _clean(text)).lower()


def _pieces(template: str) -> list[str]:
    out, literal = [], ""
    for lit, field, _, _ in string.Formatter().parse(template):
        literal += lit
        if field is not None:
            out.append(literal)
            literal = ""
    out.append(literal)
    return [p.strip(" \t:;,.()—–-|/?!\"'«»") for p in map(_clean, out)]


@dataclass(frozen=True)
class Finding:
    text: str  # the visible text that holds English
    marker: str  # the English it holds

    def __str__(self) -> str:
        return f"{self.marker!r} in {self.text[:160]!r}"


class EnglishDetector:
    """Markers of the app's English for pages in `lang` (see the module doc)."""

    def __init__(self, lang: str) -> None:
        from serve.i18n import strings
        from species_data import load_catalogue
        from species_data.translations import _texts

        english_texts: list[str] = list(strings("en").values()) + list(GRADIO_ENGLISH)
        theirs: list[str] = list(strings(lang).values())
        catalogue = load_catalogue()
        catalogue_english: list[str] = []
        for entry in catalogue:
            for _, values in _texts(entry):
                en = values["en"]
                ours = values.get(lang, ())
                en_items = en if isinstance(en, tuple) else (en,)
                our_items = ours if isinstance(ours, tuple) else (ours,)
                catalogue_english += en_items
                theirs += [x for x in our_items if x]
        for group in catalogue.groups.values():
            catalogue_english.append(group.names["en"])
            theirs.append(group.names.get(lang, ""))
        self.citations = {_loose(s.title) for entry in catalogue for s in entry.sources}
        self.theirs = _clean(" \n ".join(theirs)).lower()
        long_markers, whole_markers = set(), set()
        for text in english_texts:
            for piece in _pieces(text):
                words = _WORD.findall(piece)
                if not words or piece.lower() in self.theirs:
                    continue
                (long_markers if len(words) >= 3 else whole_markers).add(piece)
        for text in catalogue_english:
            piece = _clean(text)
            if piece.lower() not in self.theirs and len(_WORD.findall(piece)) >= 2:
                long_markers.add(piece[:60])
        self.long_markers = sorted(long_markers, key=len, reverse=True)
        self.whole_markers = {m.lower() for m in whole_markers}

    def findings(self, texts: list[str]) -> list[Finding]:
        """The English in `texts` (the page's visible strings), one finding per text."""
        out = []
        for raw in texts:
            text = _clean(raw)
            if not text:
                continue
            if _loose(text) in self.citations:
                continue
            if "[en]" in text:
                out.append(Finding(text, "[en]"))
                continue
            key = RAW_KEY.search(text)
            if key:
                out.append(Finding(text, key.group(0)))
                continue
            bare = text.strip(" :;,.()—–-|/?!\"'«»").lower()
            if bare in self.whole_markers:
                out.append(Finding(text, bare))
                continue
            low = text.lower()
            hit = next((m for m in self.long_markers if m.lower() in low), None)
            if hit:
                out.append(Finding(text, hit))
        return out


# Visible strings of the page: text nodes whose element is rendered, plus the placeholder,
# aria-label and alt of visible elements, and the document title.
VISIBLE_TEXT_JS = """() => {
  const seen = (el) => el && el.checkVisibility && el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
  const out = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || ['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(el.tagName)) continue;
    if (n.textContent.trim() && seen(el)) out.push(n.textContent);
  }
  for (const el of document.querySelectorAll('[placeholder], [aria-label], [title], img[alt]')) {
    if (!seen(el)) continue;
    for (const a of ['placeholder', 'aria-label', 'title', 'alt']) if (el.getAttribute(a)) out.push(el.getAttribute(a));
  }
  return out;
}"""


def english_on(page, detector: EnglishDetector) -> list[Finding]:
    """The English a Playwright `page` shows now."""
    return detector.findings(page.evaluate(VISIBLE_TEXT_JS))
