"""The app's look in one place: the Gradio theme, the page CSS and the one script.

Why a module of its own: contrast, focus rings and tap targets are accessibility rules
(WCAG 2.1 AA: text at 4.5:1, a visible focus indicator; 44 x 44 px targets on touch
screens), and one place keeps every tab to them. Gradio's default orange primary button
is white on #f97316 (2.8:1) and its subdued text ("- or -", "Use via API") #bbbbc2 on
white (1.9:1); the theme below darkens both. The verdict card's colours (one per
decision kind, always with an icon and a word: never colour alone) and the results
table that turns into stacked cards on a narrow screen live here too, next to the
markup that `serve.ui.verdict` and `serve.ui.results` write.

`launch()` passes THEME and CSS to Gradio; SCROLL_TO_VERDICT is the client-side step
that brings the verdict card into view after Identify (on a phone it starts two
screens below the top otherwise).
"""
from __future__ import annotations

import gradio as gr

# Colours checked against white with the WCAG formula (tests/test_theme.py):
# orange-700 #c2410c 5.2:1, orange-800 #9a3412 7.3:1, zinc-600 #52525b 7.7:1.
PRIMARY = "#c2410c"
PRIMARY_HOVER = "#9a3412"
SUBDUED_TEXT = "#52525b"
FOCUS = "#1d4ed8"  # blue-700, 6.7:1 on white: a ring seen on orange, white and grey alike

THEME = gr.themes.Default(primary_hue=gr.themes.colors.orange).set(
    button_primary_background_fill=PRIMARY,
    button_primary_background_fill_hover=PRIMARY_HOVER,
    button_primary_background_fill_dark=PRIMARY,
    button_primary_background_fill_hover_dark=PRIMARY_HOVER,
    button_primary_text_color="#ffffff",
    button_primary_text_color_hover="#ffffff",
    button_primary_text_color_dark="#ffffff",
    button_primary_border_color=PRIMARY,
    button_primary_border_color_dark=PRIMARY,
    body_text_color_subdued=SUBDUED_TEXT,
    link_text_color="#1d4ed8",
    link_text_color_visited="#6d28d9",
    link_text_color_hover="#1e40af",
    input_border_color_focus=FOCUS,
    color_accent=PRIMARY,  # the selected tab's text and other accents (default #f97316: 2.8:1)
)

# Kind -> (border and badge colour, tint). Badge text is white: every colour is >= 5:1.
KIND_COLOURS = {
    "identified": ("#15803d", "#f0fdf4"),  # green-700
    "group": ("#b45309", "#fffbeb"),  # amber-700
    "cannot_rule_out": ("#b91c1c", "#fef2f2"),  # red-700
    "unknown": ("#475569", "#f1f5f9"),  # slate-600
}

_KIND_CSS = "\n".join(
    f".verdict--{kind} {{ border-color: {edge}; background: {tint}; }}\n"
    f".verdict--{kind} .verdict-kind, .result-kind--{kind} .kind-icon {{ background: {edge}; }}"
    for kind, (edge, tint) in KIND_COLOURS.items())

CSS = """
/* Focus: a ring anyone can see, on every control reached with the keyboard. */
:focus-visible, button:focus-visible, a:focus-visible, input:focus-visible,
textarea:focus-visible, [role=tab]:focus-visible, [tabindex]:focus-visible {
  outline: 3px solid %(focus)s !important; outline-offset: 2px !important;
}
/* Footer and other subdued text at AA contrast. */
footer, footer button, footer a, .or { color: %(subdued)s !important; }

/* Tap targets of at least 44 x 44 CSS pixels. */
button.icon-button, button.label-clear-button, .source-selection button.icon,
button.upload-container, a.download-link, .timebox button.calendar {
  min-width: 44px; min-height: 44px; }
a.download-link, button.label-clear-button { display: inline-flex; align-items: center;
  justify-content: center; }
[role=tab], .tab-container button, .label-wrap, button.lg, a.lg, button.sm, a.sm {
  min-height: 44px; }
button.label-wrap { text-align: left; }  /* an accordion's label that wraps reads as text */
fieldset label:has(input[type=radio]), fieldset label:has(input[type=checkbox]),
button.confidence-set { min-height: 44px; }
.prose li > a { display: inline-block; min-height: 44px; padding: 10px 0; }

/* Nothing cut: gallery captions and file names wrap instead of ending in "...". */
.caption-label { white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; }
.file-preview td.filename, .file-preview td.filename .stem { white-space: normal !important;
  overflow: visible !important; text-overflow: clip !important; overflow-wrap: anywhere; }

/* Gradio's JSON viewer (Technical details): its value colours at AA contrast. */
.json-node .value.string { color: #15803d !important; }
.json-node .value.number { color: #1d4ed8 !important; }
.json-node .value.bool, .json-node .value.null { color: #52525b !important; }

/* On a phone a file's name takes a line of its own (not a 60 px column, letter by letter). */
@media (max-width: 640px) {
  .file-preview tr.file { display: flex; flex-wrap: wrap; align-items: center; }
  .file-preview td.filename { flex: 1 1 100%%; }
}

/* A date field fits its column (Gradio's box is 247 px wide whatever the column). */
.timebox input.time { min-width: 0; width: 100%%; }

/* Gradio's date picker opens below and left of its field, off a phone's screen: there,
   it opens in the middle of the screen instead. */
@media (max-width: 640px) {
  .picker-container { left: 50%% !important; top: 50%% !important;
    transform: translate(-50%%, -50%%); z-index: 1000; }
}

/* The verdict card. */
.verdict { border: 3px solid; border-radius: 10px; padding: 12px 14px; color: #111827; }
.verdict .verdict-kind { display: inline-flex; align-items: center; gap: 8px; color: #fff;
  font-weight: 700; border-radius: 999px; padding: 4px 14px 4px 6px; margin: 0 0 8px; }
.verdict .kind-word { display: inline-block; color: #fff; }
.verdict .kind-word::first-letter { text-transform: uppercase; }
.verdict-icon { display: inline-flex; width: 28px; height: 28px; border-radius: 50%%;
  background: #fff; color: #111827; align-items: center; justify-content: center;
  font-size: 18px; line-height: 1; }
.verdict h2.verdict-title { font-size: 1.3rem; line-height: 1.3; margin: 4px 0 8px;
  color: #111827; }
.verdict .verdict-photo { margin: 0 0 8px; color: #374151; overflow-wrap: anywhere; }
.verdict ul.verdict-actions { list-style: none; padding: 0; margin: 8px 0; }
.verdict ul.verdict-actions li { margin: 6px 0; }
.verdict li.verdict-warning { font-weight: 700; }
.verdict h3 { font-size: 1.05rem; margin: 12px 0 4px; color: #111827; }
.verdict ol { margin: 4px 0 8px 1.4em; padding: 0; }
.verdict ol li { margin: 4px 0; }
.verdict .verdict-more { margin: 8px 0 0; color: #374151; }
%(kinds)s

/* The batch summary and the results: a table on a wide screen, stacked cards on a phone. */
.identify-status { font-size: 1.05rem; }
.identify-status p { margin: 0; }
table.results { width: 100%%; border-collapse: collapse; border: none; }
table.results caption { text-align: left; font-weight: 700; padding: 4px 0; }
table.results th, table.results td { text-align: left; padding: 8px; vertical-align: top;
  border-bottom: 1px solid #e5e7eb; overflow-wrap: anywhere; }
table.results th { background: #f3f4f6; color: #111827; }
.result-kind { display: inline-flex; align-items: center; gap: 6px; }
.kind-icon { display: inline-flex; width: 22px; height: 22px; border-radius: 50%%;
  color: #fff; align-items: center; justify-content: center; font-size: 14px;
  flex: none; }
.failures { margin-top: 12px; }
.failures h3 { font-size: 1rem; margin: 0 0 4px; }
.failures ul { margin: 0 0 0 1.2em; padding: 0; }
@media (max-width: 640px) {
  table.results, table.results caption, table.results tbody, table.results tr,
  table.results td { display: block; }
  table.results thead { position: absolute; width: 1px; height: 1px; overflow: hidden;
    clip: rect(0 0 0 0); }
  table.results tr { border: 1px solid #d1d5db; border-radius: 8px; margin: 0 0 10px;
    padding: 6px 8px; }
  table.results td { border: none; padding: 3px 0; }
  table.results td::before { content: attr(data-label) ": "; font-weight: 700; }
  table.results td.result-file::before { content: none; }
  table.results td.result-file { font-weight: 700; }
}
""" % {"focus": FOCUS, "subdued": SUBDUED_TEXT, "kinds": _KIND_CSS}

STATUS_ID = "identify-status"  # the summary line right under Identify (progress shows there)
VERDICT_ID = "verdict-card"  # the verdict card under it

# After Identify: bring the summary line and the verdict card under it to the top.
SCROLL_TO_VERDICT = """() => {
  const top = document.getElementById('%s');
  if (top) { top.scrollIntoView({block: 'start', behavior: 'instant'}); }
}""" % STATUS_ID

# Names and states Gradio's controls lack (axe-core's button-name and
# aria-prohibited-attr): a DateTime's calendar button and text box get the field's own
# label ("From (YYYY-MM-DD)"), so a screen reader says what the button is for in the
# user's language; an empty-value placeholder that carries aria-label gets role="img",
# which allows one; an accordion's toggle says whether it is open (aria-expanded). Runs
# on load and on every change Gradio makes to the page.
ACCESSIBILITY_JS = """() => {
  const label = (el) => {
    const block = el.closest('.block');
    const info = block && block.querySelector('[data-testid="block-info"]');
    return info ? info.textContent.trim() : '';
  };
  const name = () => {
    for (const b of document.querySelectorAll('.timebox button.calendar:not([aria-label])')) {
      const text = label(b);
      if (text) { b.setAttribute('aria-label', text); }
    }
    for (const i of document.querySelectorAll('.timebox input:not([aria-label])')) {
      const text = label(i);
      if (text) { i.setAttribute('aria-label', text); }
    }
    for (const d of document.querySelectorAll('div.empty[aria-label]:not([role])')) {
      d.setAttribute('role', 'img');
    }
    for (const t of document.querySelectorAll('.gr-accordion > button.label-wrap')) {
      const content = t.nextElementSibling;
      const open = !!content && content.style.display !== 'none';
      if (t.getAttribute('aria-expanded') !== String(open)) {
        t.setAttribute('aria-expanded', String(open));
      }
    }
  };
  name();
  new MutationObserver(name).observe(document.body, {childList: true, subtree: true,
    attributes: true, attributeFilter: ['style']});
}"""

