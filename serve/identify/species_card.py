"""The species sheet an officer or trainee reads: one catalogue entry as Markdown (with the
listing per species or population and when it took effect), and its look-alikes side by
side with the officer's own photo and the cue that tells each pair apart.

The look-alike pairs are HTML with the photos inlined (data URIs): a page that has finished
loading shows them at once. (Gradio's gallery loads its thumbnails lazily, only when scrolled
near the viewport, so the panel far down the page looked empty; it also dropped every
look-alike without a reference photo and paired a reference photo, not the officer's.)
"""
from __future__ import annotations

import base64
import functools
import html
import io
from pathlib import Path
from typing import Callable

from PIL import Image

from species_data import Appendix, CatalogueEntry, ListingRow, Localised
from species_data.cites import CheckedAgainst

from serve.i18n import FALLBACK_MARK, t, typeset
from serve.ui.common import example_thumbnail, thumbnail

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


def listing_text(row: ListingRow, lang: str) -> Localised[str]:
    """'Loxodonta africana: populations of ...: Appendix II (in force from 2026-03-05)', and
    whether the row's own words are in English for want of a translation."""
    appendix = (t("app.card.not_listed", lang) if row.appendix is Appendix.NONE
                else t("app.card.appendix", lang, appendix=row.appendix.value))
    since = f" ({t('app.card.in_force', lang, date=row.in_force.isoformat())})" if row.in_force else ""
    covers = row.covers_in(lang)
    return Localised(typeset(f"{covers.value}: {appendix}{since}", lang), covers.lang_used, covers.fell_back)


def checked_text(entry: CatalogueEntry, lang: str) -> str:
    """What the listing was checked against, in `lang` ("the CITES Appendices as amended at
    CoP20 (2026-02)"); a trainer's own wording is shown as written."""
    checked = CheckedAgainst.parse(entry.cites.checked_against)
    text = t(f"app.card.checked.{checked.basis.value}", lang, month=checked.month, **{
        k: v for k, v in checked.params.items() if k != "unverified"})
    if "unverified" in checked.params:
        text += " " + t("app.card.checked.unverified", lang, cop=checked.params["unverified"])
    return text


def sources_markdown(entry: CatalogueEntry) -> str:
    """The entry's sources as a Markdown list of links ("" when it has none)."""
    return _bullets(f"[{s.title}]({s.url})" for s in entry.sources)


def card_markdown(entry: CatalogueEntry, catalogue, lang: str, *, sources: bool = True) -> str:
    """Names, scientific name, CITES (appendix, note, date checked, rows), protection, cues,
    look-alikes with their separating cue, handling guidance and (`sources`) sources. When any
    of it is shown in English for want of a translation, a notice says so first."""
    names = entry.names_in(lang)
    cues, handling, note = entry.cues_in(lang), entry.handling_in(lang), entry.cites.note_in(lang)
    looks = [(la, la.cue_in(lang)) for la in entry.lookalikes]
    rows = [listing_text(row, lang) for row in entry.cites.listings]
    fell_back = any(x.fell_back for x in (names, cues, handling, note, *rows)) or any(
        c.fell_back for _, c in looks)
    out = [f"## {names.value[0]}"]
    if fell_back:
        out.append(t("app.card.fallback", lang))
    if entry.scientific_name:
        out.append(f"**{t('app.card.scientific', lang)}:** *{entry.scientific_name}*")
    if len(names.value) > 1:
        out.append(f"**{t('app.card.other_names', lang)}:** {', '.join(names.value[1:])}")
    out.append(f"**{t('app.card.cites', lang)}:** {appendix_text(entry, lang)} — {checked_text(entry, lang)}")
    out.append(f"> {t('app.card.cites_note', lang)}: {note.value}")
    if rows:
        out.append(f"**{t('app.card.listings', lang)}:**\n" + _bullets(r.value for r in rows))
    out.append(t("app.card.protected_yes" if entry.protected else "app.card.protected_no", lang))
    out.append(f"### {t('app.card.cues', lang)}\n{_bullets(cues.value)}")
    if looks:
        pairs = []
        for la, cue in looks:
            other = catalogue.get(la.id)
            pairs.append(f"**{other.common_name(lang) if other else la.id}:** {cue.value}")
        out.append(f"### {t('app.card.lookalikes', lang)}\n{_bullets(pairs)}")
    out.append(f"### {t('app.card.handling', lang)}\n" +
               "\n".join(f"{i}. {x}" for i, x in enumerate(handling.value, 1)))
    if sources and entry.sources:
        out.append(f"### {t('app.card.sources', lang)}\n" + sources_markdown(entry))
    return typeset("\n\n".join(out), lang)


PAIR_SIDE = 240  # px, height of each photo in a pair


def _data_uri(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@functools.lru_cache(maxsize=128)
def _reference_uri(path: str) -> str | None:
    """A reference photo as an inline JPEG, kept (the same few are shown again and again)."""
    try:
        return _data_uri(example_thumbnail(path))
    except (ValueError, OSError):  # an unreadable reference photo: show the text only
        return None


def _officer_uri(path: Path | str | None) -> str | None:
    if path is None:
        return None
    try:
        return _data_uri(thumbnail(str(path), PAIR_SIDE))
    except (ValueError, OSError):  # the upload was swept from Gradio's cache
        return None


def _img(uri: str, alt: str) -> str:
    return (f'<img src="{uri}" alt="{html.escape(alt)}" '
            f'style="height:{PAIR_SIDE}px;max-width:48%;object-fit:contain;border-radius:4px">')


def lookalike_pairs_html(entry: CatalogueEntry, catalogue, lang: str, example_of: ExampleOf,
                         officer_photo: Path | str | None = None) -> str:
    """Every look-alike of `entry`, each next to the officer's photo (else the entry's own
    reference photo): its reference photo, or a note that there is none yet, and the cue
    that separates the pair. "" when the entry has no look-alikes."""
    if not entry.lookalikes:
        return ""
    yours = t("app.identify.lookalike.yours", lang)
    left_uri = _officer_uri(officer_photo)
    left_name = yours
    if left_uri is None:
        own = example_of(entry.id)
        left_uri = _reference_uri(str(own)) if own else None
        left_name = entry.common_name(lang)
    figures = []
    for la in entry.lookalikes:
        other = catalogue.get(la.id)
        name = other.common_name(lang) if other else la.id
        ref = example_of(la.id)
        right_uri = _reference_uri(str(ref)) if ref else None
        right = (_img(right_uri, name) if right_uri else
                 f'<div class="no-photo" style="flex:1;padding:1em;border:1px dashed #999;border-radius:4px">'
                 f'{html.escape(t("app.identify.lookalike.no_photo", lang, name=name))}</div>')
        left = _img(left_uri, left_name) if left_uri else ""
        cue = la.cue_in(lang)  # marked when shown in English for want of a translation
        caption = t("app.identify.lookalike.caption", lang, left=left_name, right=name,
                    cue=(FALLBACK_MARK if cue.fell_back else "") + cue.value)
        figures.append(
            f'<figure class="lookalike-pair" data-lookalike="{html.escape(la.id)}" style="margin:0 0 1em 0">'
            f'<div style="display:flex;gap:8px;align-items:center">{left}{right}</div>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    heading = html.escape(t("app.identify.lookalikes.label", lang))
    return f'<div class="lookalike-pairs"><h3>{heading}</h3>{"".join(figures)}</div>'


def separating_cue(catalogue, true_id: str, chosen_id: str, lang: str) -> str | None:
    """The catalogue cue that tells `true_id` from `chosen_id` (either entry may hold it)."""
    link = catalogue.link(true_id, chosen_id)
    return link.cue_in(lang).value if link is not None else None
