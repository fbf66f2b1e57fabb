"""The verdict card: what an officer at an inspection reads first, in one block.

Why its own module: on a phone the card is the whole answer (the species sheet, the
model's scores and the heat map are folded below it), so what it holds is a decision
of its own: the kind of answer as a word AND an icon AND a colour (never colour
alone), the headline, what the CITES listing asks the officer to do, the checks and
referrals of the decision's advice, and the first steps of the species sheet's "What to
do". A "not recognised" card names no species and shows no confidence.

Pure: a result as `serve.ui.identify.result_dict` returns it (advice already in the
reader's language) in, escaped HTML out; the look (colours per kind) is in
`serve.ui.theme`. No Gradio import.
"""
from __future__ import annotations

from html import escape
from typing import Mapping, Sequence

from serve.i18n import t

KINDS = ("identified", "group", "cannot_rule_out", "unknown")
# A symbol per kind, read with the kind's word (the symbol itself is hidden from screen
# readers, which read the word).
ICONS = {"identified": "✓", "group": "≈", "cannot_rule_out": "!", "unknown": "?"}
FIRST_STEPS = 3  # the card shows this many steps of the sheet's "What to do"

# Advice that asks the officer to act (CITES duty, referral) is set in bold with a mark.
_ACTION_KEYS = ("decision.cites.", "decision.cannot_rule_out.refer", "decision.group.refer",
                "decision.unknown.refer")


def kind_of(result: Mapping) -> str:
    kind = result.get("decision")
    if kind not in KINDS:
        raise ValueError(f"result decision {kind!r} is not one of {', '.join(KINDS)}")
    return kind


def kind_badge(kind: str, lang: str, *, css: str = "verdict-kind") -> str:
    """The kind as icon + word, e.g. "? not recognised" (the word is what is read)."""
    return (f'<span class="{css}"><span class="verdict-icon" aria-hidden="true">{ICONS[kind]}'
            f'</span><span class="kind-word">{escape(t(f"app.identify.result.{kind}", lang))}</span></span>')


def headline(result: Mapping, lang: str) -> str:
    """The card's title, short enough to read at a glance on a phone: the advice's first
    message, except for a protected class not ruled out ("Cannot rule out elephant ivory
    carving — treat the item as protected") and a photo not recognised ("Not recognised —
    refer to an expert"), whose first messages are long; those follow as text."""
    kind = kind_of(result)
    if kind == "cannot_rule_out":
        return t("app.verdict.title.cannot_rule_out", lang,
                 suspected=", ".join(result.get("suspected_names") or []))
    if kind == "unknown":
        return t("decision.unknown.not_recognised", lang)
    return result["advice"][0]


def verdict_html(result: Mapping, lang: str, steps: Sequence[str] = ()) -> str:
    """The card for one identified photo.

    result: `result_dict(...)` of the photo (its `advice` and `advice_keys` in `lang`).
    steps:  the species sheet's "What to do" (the first FIRST_STEPS are shown); ignored
            when the photo is not recognised (there is no sheet to follow).
    """
    kind = kind_of(result)
    advice, keys = list(result.get("advice") or []), list(result.get("advice_keys") or [])
    if not advice or len(advice) != len(keys):
        raise ValueError("result has no advice, or advice and advice_keys differ in length; "
                         "build it with serve.ui.identify.result_dict")
    title = headline(result, lang)
    parts = [f'<section class="verdict verdict--{kind}" aria-labelledby="verdict-title">',
             f'<p>{kind_badge(kind, lang)}</p>',
             f'<h2 class="verdict-title" id="verdict-title">{escape(title)}</h2>',
             f'<p class="verdict-photo">{escape(t("app.verdict.photo", lang, name=result.get("name", "")))}</p>']
    rest = list(zip(advice, keys))
    if rest[0][0] == title:
        rest = rest[1:]
    if rest:
        items = []
        for text, key in rest:
            if key.startswith(_ACTION_KEYS):
                items.append(f'<li class="verdict-warning"><span aria-hidden="true">⚠️ </span>'
                             f'<span>{escape(text)}</span></li>')
            else:
                items.append(f"<li><span>{escape(text)}</span></li>")
        parts.append(f'<ul class="verdict-actions">{"".join(items)}</ul>')
    shown = [s for s in steps if s][:FIRST_STEPS] if kind != "unknown" else []
    if shown:
        parts.append(f'<h3>{escape(t("app.verdict.steps", lang))}</h3>')
        parts.append("<ol>" + "".join(f"<li>{escape(s)}</li>" for s in shown) + "</ol>")
        parts.append(f'<p class="verdict-more">{escape(t("app.verdict.more", lang))}</p>')
    parts.append("</section>")
    return "\n".join(parts)
