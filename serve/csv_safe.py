"""CSV files that are safe to open in a spreadsheet: the one formula guard every export uses.

Why: exported cells hold text that officers, trainers or photo file names supplied (shipment
references, notes, names). Excel, LibreOffice and Google Sheets run a cell that starts with
`=`, `+`, `-` or `@` as a formula (CSV injection), and they skip leading blanks, control
characters and zero-width marks first, and read full-width or small forms (`＝`, `﹦`, `＋`…)
as the ASCII signs. So a cell is neutralised (prefixed with `'`, shown as text) when its
first character after any such blanks, in NFKC form, is one of those signs, or when it
starts with a tab, carriage return or line feed.

    csv_text(["name", "note"], [["a.jpg", "=HYPERLINK(...)"]])  # -> 'name,note\\r\\na.jpg,'=HYP...'
"""
from __future__ import annotations

import csv
import io
import unicodedata
from typing import Any, Iterable, Sequence

FORMULA_SIGNS = frozenset("=+-@")
_STARTS_WITH = ("\t", "\r", "\n")


def _skipped(ch: str) -> bool:
    """Characters a spreadsheet passes over before it decides a cell is a formula."""
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp")


def is_formula_like(text: str) -> bool:
    """True when a spreadsheet could run `text` as a formula."""
    if text.startswith(_STARTS_WITH):
        return True
    for ch in text:
        if _skipped(ch):
            continue
        return unicodedata.normalize("NFKC", ch)[:1] in FORMULA_SIGNS
    return False


def safe_cell(value: Any) -> str:
    """`value` as CSV cell text; formula-like text is prefixed with `'` (shown as text)."""
    text = "" if value is None else str(value)
    return "'" + text if is_formula_like(text) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]], *,
             lineterminator: str = "\r\n") -> str:
    """A whole CSV document, every cell passed through `safe_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=lineterminator)
    writer.writerow([safe_cell(h) for h in header])
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return out.getvalue()
