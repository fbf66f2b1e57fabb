"""serve/ui/theme.py: the colours the app chooses meet WCAG 2.1 AA (4.5:1 for text) on
what they are drawn on, and the page script and CSS name what the markup uses."""
from __future__ import annotations

import pytest

from serve.ui import theme


def luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of "#rrggbb"."""
    channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_contrast_formula_matches_known_values():
    assert contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast("#f97316", "#ffffff") == pytest.approx(2.8, abs=0.05)  # Gradio's default orange


@pytest.mark.parametrize("name, colour", [
    ("primary button", theme.PRIMARY), ("primary button, hovered", theme.PRIMARY_HOVER),
    ("subdued text", theme.SUBDUED_TEXT), ("focus ring", theme.FOCUS),
    *[(f"{kind} badge", edge) for kind, (edge, _) in theme.KIND_COLOURS.items()],
])
def test_text_colours_reach_aa_on_white_or_carry_white_text(name, colour):
    assert contrast(colour, "#ffffff") >= 4.5, name


@pytest.mark.parametrize("kind", sorted(theme.KIND_COLOURS))
def test_the_verdict_text_reads_on_its_tint_and_each_kind_has_its_rule(kind):
    edge, tint = theme.KIND_COLOURS[kind]
    assert contrast("#111827", tint) >= 7  # the card's text on its tint
    assert f".verdict--{kind} {{ border-color: {edge}; background: {tint}; }}" in theme.CSS


def test_the_page_script_is_one_function_gradio_can_run():
    js = theme.ACCESSIBILITY_JS.strip()
    assert js.startswith("() => {") and js.endswith("}")
    assert js.count("{") == js.count("}")
    assert theme.STATUS_ID in theme.SCROLL_TO_VERDICT
