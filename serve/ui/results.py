"""A batch of identifications as the officer reads it: one summary line that counts every
file, the results (a table on a laptop, stacked cards on a phone), the files that could
not be read with a short reason, and the CSV download in the same words as the screen.

Why: one bad file must not hide the others or push the table off the screen. A PDF or a
text file named .jpg gets a one-line reason under the table ("not a photo") instead of
a long message in a table cell; the summary says "10 photos: 7 identified, 2 not
recognised, 1 not readable: shipment_manifest.pdf". A photo that is not recognised, or
whose protected look-alike cannot be ruled out, shows no confidence number: the number
would belong to a species the tool did not name.

Pure: result and failure dicts (as the `identify` endpoint returns them) in, escaped
HTML and CSV text out. No Gradio import.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from html import escape
from typing import Mapping, Sequence

from serve.csv_safe import csv_text
from serve.i18n import t, tn
from serve.ui.verdict import ICONS, KINDS

NAMES_IN_SUMMARY = 3  # failed file names listed in the summary line before "…"
SHOWN_CONFIDENCE = ("identified", "group")  # kinds whose confidence is a named answer's

# Why a file could not be read, in a few words. The decoder's reasons
# (species_data.images) are long and English; they stay in the CSV and JSON downloads.
REASONS = ("not_photo", "unsupported", "too_large", "empty", "damaged", "unreadable")
_REASON_PATTERNS = (
    ("unsupported", r"HEIC|HEIF|AVIF"),
    ("too_large", r"\d+ MB|\d+ MP|decompression bomb|limit is"),
    ("empty", r"empty"),
    ("damaged", r"damaged|truncated|could not be decoded|no pixels|converted to RGB"),
    ("not_photo", r"not a photo|not an image|web page|SVG|PDF|zip|PostScript|video|folder|"
                  r"regular file"),
)


def reason_kind(reason: str) -> str:
    """The short reason (one of REASONS) for a decoder's long one."""
    for kind, pattern in _REASON_PATTERNS:
        if re.search(pattern, reason or "", re.IGNORECASE):
            return kind
    return "unreadable"


def short_reason(failure: Mapping, lang: str) -> str:
    kind = failure.get("kind") or reason_kind(failure.get("reason", ""))
    return t(f"app.identify.reason.{kind if kind in REASONS else 'unreadable'}", lang)


# --- what each result shows --------------------------------------------------------------


def shown_name(result: Mapping, lang: str) -> str:
    """The species or group column: empty when not recognised; for a protected class that
    cannot be ruled out, "<protected class> or a look-alike"."""
    kind = result["decision"]
    if kind == "unknown":
        return ""
    if kind == "cannot_rule_out":
        names = ", ".join(result.get("suspected_names") or [])
        return t("app.identify.cannot_rule_out_name", lang, suspected=names)
    return result.get("label_name") or result.get("group_name") or ""


def shown_confidence(result: Mapping) -> str:
    """"93%" for an identified class or a group; "" otherwise (no number without a name)."""
    if result["decision"] not in SHOWN_CONFIDENCE:
        return ""
    return f"{round(100 * float(result['confidence']))}%"


def protected_text(result: Mapping, lang: str) -> str:
    if result.get("protected") is None:
        return ""
    return t("app.yes", lang) if result["protected"] else t("app.no", lang)


def cites_text(result: Mapping) -> str:
    return (result.get("cites") or {}).get("appendix_text", "")


# --- the summary line --------------------------------------------------------------------


def summary_text(results: Sequence[Mapping], failures: Sequence[Mapping], version: str,
                 lang: str) -> str:
    """"10 photos: 7 identified, 2 not recognised, 1 not readable: manifest.pdf. Model v1."
    Every file is counted; kinds with no photo are left out."""
    counts = Counter(r["decision"] for r in results)
    parts = [tn(f"app.identify.count.{kind}", counts[kind], lang) for kind in KINDS if counts[kind]]
    if failures:
        names = [str(f.get("name", "")) for f in failures]
        listed = ", ".join(names[:NAMES_IN_SUMMARY]) + (" …" if len(names) > NAMES_IN_SUMMARY else "")
        parts.append(tn("app.identify.count.failed", len(failures), lang, names=listed))
    photos = tn("app.identify.count.photos", len(results) + len(failures), lang)
    return t("app.identify.summary", lang, photos=photos, parts=", ".join(parts), version=version)


# --- the results table -------------------------------------------------------------------

COLUMNS = ("file", "result", "name", "confidence", "cites", "protected")


def results_html(results: Sequence[Mapping], failures: Sequence[Mapping], lang: str) -> str:
    """A table with a caption and header cells (each cell also carries its column name,
    which narrow screens show before the value, one card per photo), then the files
    that could not be read, each with its short reason."""
    heads = {c: t(f"app.identify.col.{c}", lang) for c in COLUMNS}
    parts = []
    if results:
        rows = []
        for r in results:
            kind = r["decision"]
            cells = {
                "file": escape(str(r.get("name", ""))),
                "result": (f'<span class="result-kind result-kind--{kind}"><span class="kind-icon" '
                           f'aria-hidden="true">{ICONS[kind]}</span>'
                           f'{escape(t(f"app.identify.result.{kind}", lang))}</span>'),
                "name": escape(shown_name(r, lang)) or "—",
                "confidence": escape(shown_confidence(r)) or "—",
                "cites": escape(cites_text(r)) or "—",
                "protected": escape(protected_text(r, lang)) or "—",
            }
            rows.append("<tr>" + "".join(
                f'<td class="result-{c}" data-label="{escape(heads[c])}">{cells[c]}</td>'
                for c in COLUMNS) + "</tr>")
        parts.append(
            f'<table class="results"><caption>'
            f'{escape(t("app.identify.table.label", lang))}</caption><thead><tr>'
            + "".join(f'<th scope="col">{escape(heads[c])}</th>' for c in COLUMNS)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    if failures:
        items = "".join(
            f'<li><strong>{escape(str(f.get("name", "")))}</strong> — '
            f'{escape(short_reason(f, lang))}</li>' for f in failures)
        parts.append(f'<div class="failures"><h3>{escape(t("app.identify.failures.heading", lang))}'
                     f'</h3><ul>{items}</ul></div>')
    return "\n".join(parts)


# --- the CSV download --------------------------------------------------------------------

TECHNICAL_COLUMNS = ("label_id", "group_id", "sha256", "model_version", "top5", "details")


def results_csv(results: Sequence[Mapping], failures: Sequence[Mapping], lang: str) -> str:
    """The table as CSV: the screen's columns in the screen's words (confidence a whole
    percentage, "not recognised" not "unknown"), then ids for experts and scripts. A
    file that could not be read is a row with its short reason and, under `details`,
    the decoder's full reason."""
    header = [t(f"app.identify.col.{c}", lang) for c in COLUMNS] + list(TECHNICAL_COLUMNS)
    rows = []
    for r in results:
        top5 = [[x["label"], round(float(x["probability"]), 4)] for x in r.get("top", [])]
        rows.append([r.get("name", ""), t(f"app.identify.result.{r['decision']}", lang),
                     shown_name(r, lang), shown_confidence(r), cites_text(r),
                     protected_text(r, lang), r.get("label") or "", r.get("group") or "",
                     r.get("sha256", ""), r.get("model_version", ""),
                     json.dumps(top5, ensure_ascii=False), " | ".join(r.get("advice", []))])
    for f in failures:
        rows.append([f.get("name", ""), t("app.identify.result.failed", lang, reason=short_reason(f, lang)),
                     "", "", "", "", "", "", "", "", "", f.get("reason", "")])
    return csv_text(header, rows)
