"""The species sheet an officer or trainee reads: one catalogue entry as Markdown, and its
look-alikes as side-by-side photos with the cue that tells each pair apart."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PIL import Image

from species_data import Appendix, CatalogueEntry

from serve.i18n import t
from serve.ui.common import example_thumbnail, side_by_side

ExampleOf = Callable[[str], Path | None]  # class id -> a reference photo, if any


def _bullets(items) -> str:
    return "\n".join(f"- {x}" for x in items)


def appendix_text(entry: CatalogueEntry, lang: str) -> str:
    a = entry.appendix
    return t("app.card.not_listed", lang) if a is Appendix.NONE else \
        t("app.card.appendix", lang, appendix=a.value)


def separating_checks(catalogue, suspected, lookalike: str, lang: str) -> list[str]:
    """What to look at to tell `lookalike` from each suspected (protected) class: the
    catalogue's look-alike cue of the pair (from either entry), else the suspected class's
    first cue. In `lang` where translated (English otherwise)."""
    checks: list[str] = []
    for cls in suspected:
        entry, other = catalogue.get(cls), catalogue.get(lookalike)
        cues = [la.cue_in(lang).value for la in (entry.lookalikes if entry else ()) if la.id == lookalike]
        cues += [la.cue_in(lang).value for la in (other.lookalikes if other else ()) if la.id == cls]
        if not cues and entry is not None and entry.cues_in(lang).value:
            cues = [entry.cues_in(lang).value[0]]
        checks += [c for c in cues if c not in checks]
    return checks


def card_markdown(entry: CatalogueEntry, catalogue, lang: str) -> str:
    """Names, scientific name, CITES (appendix, note, date checked), protection, cues,
    look-alikes with their separating cue, handling guidance and sources."""
    names = entry.names_in(lang)
    cues, handling = entry.cues_in(lang), entry.handling_in(lang)
    looks = [(la, la.cue_in(lang)) for la in entry.lookalikes]
    fell_back = names.fell_back or cues.fell_back or handling.fell_back or any(
        c.fell_back for _, c in looks)
    out = [f"## {names.value[0]}"]
    if entry.scientific_name:
        out.append(f"**{t('app.card.scientific', lang)}:** *{entry.scientific_name}*")
    if len(names.value) > 1:
        out.append(f"**{t('app.card.other_names', lang)}:** {', '.join(names.value[1:])}")
    out.append(f"**{t('app.card.cites', lang)}:** {appendix_text(entry, lang)} — "
               f"{t('app.card.checked', lang, date=entry.cites.checked_against)}")
    if entry.cites.note:
        out.append(f"> {t('app.card.cites_note', lang)}: {entry.cites.note}")
    out.append(t("app.card.protected_yes" if entry.protected else "app.card.protected_no", lang))
    out.append(f"### {t('app.card.cues', lang)}\n{_bullets(cues.value)}")
    if looks:
        rows = []
        for la, cue in looks:
            other = catalogue.get(la.id)
            rows.append(f"**{other.common_name(lang) if other else la.id}:** {cue.value}")
        out.append(f"### {t('app.card.lookalikes', lang)}\n{_bullets(rows)}")
    out.append(f"### {t('app.card.handling', lang)}\n" +
               "\n".join(f"{i}. {x}" for i, x in enumerate(handling.value, 1)))
    if entry.sources:
        out.append(f"### {t('app.card.sources', lang)}\n" +
                   _bullets(f"[{s.title}]({s.url})" for s in entry.sources))
    if fell_back:
        out.append(t("app.card.fallback", lang))
    return "\n\n".join(out)


def _thumb(path: Path | None) -> Image.Image | None:
    if path is None:
        return None
    try:
        return example_thumbnail(str(path))
    except ValueError:  # an unreadable reference photo: show the text only
        return None


def lookalike_gallery(entry: CatalogueEntry, catalogue, lang: str, example_of: ExampleOf,
                      limit: int = 8) -> list[tuple[Image.Image, str]]:
    """(image, caption) per look-alike with an example photo: this class's example on the
    left, the look-alike's on the right, and the cue that separates them. (Every cue is
    also in the species sheet, photo or not.)"""
    left = _thumb(example_of(entry.id))
    items = []
    for la in entry.lookalikes[:limit]:
        right = _thumb(example_of(la.id))
        if left is None or right is None:
            continue
        other = catalogue.get(la.id)
        caption = t("app.identify.lookalike.caption", lang, left=entry.common_name(lang),
                    right=other.common_name(lang) if other else la.id, cue=la.cue_in(lang).value)
        items.append((side_by_side(left, right), caption))
    return items


def separating_cue(catalogue, true_id: str, chosen_id: str, lang: str) -> str | None:
    """The catalogue cue that tells `true_id` from `chosen_id` (either entry may hold it)."""
    for a, b in ((true_id, chosen_id), (chosen_id, true_id)):
        entry = catalogue.get(a)
        la = entry.lookalike(b) if entry else None
        if la is not None:
            return la.cue_in(lang).value
    return None
