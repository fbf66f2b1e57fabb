"""Helpers for the end-to-end browser tests (`tests/test_browser.py`,
`tests/test_browser_officer.py`): start the app on
loopback in a temporary data folder, drive Debian's Chromium through Playwright, read what
Gradio components show, and write small README screenshots.

Gradio renders components without ids, so elements are found the way a person finds
them: by their visible (translated) label, through `serve.i18n.t`.
"""
from __future__ import annotations

import io
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers import free_port, password  # noqa: F401 (re-exported)

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# Test runs write screenshots to an ignored folder; refresh the README's with
# WILDLIFE_SCREENSHOT_DIR=docs/screenshots python -m pytest -m browser
SCREENSHOTS = Path(os.environ.get("WILDLIFE_SCREENSHOT_DIR") or ROOT / "tests" / "artifacts" / "screenshots")
SCREENSHOT_MAX_BYTES = 300_000
SCREENSHOT_WIDTH = 1100  # README images are scaled to this width (pixels)
VIEWPORT = {"width": 1280, "height": 900}  # a laptop
PHONE = {"width": 390, "height": 844}  # a phone held upright (CSS pixels)
TAP_TARGET = 44  # CSS pixels, each side (WCAG 2.5.5, Apple and Android guidance)


def _upload_names() -> set[str]:
    """Gradio's upload button, as our locales name it in every language (gradio.common.upload)."""
    import json

    root = Path(__file__).resolve().parents[1] / "serve" / "locales"
    return {json.loads(p.read_text(encoding="utf-8")).get("gradio.common.upload", "common.upload")
            for p in root.glob("*/gradio.json")}


# Serious or critical axe-core findings inside Gradio's own components that the app cannot
# fix from outside; each is listed in the README ("Accessibility") with its upstream issue.
# rule id -> the CSS selector fragment(s), one of which every flagged node's target must contain.
GRADIO_OWN_VIOLATIONS = {
    # gr.File with files in it: its "upload more" button sits inside the drop zone's button
    "nested-interactive": tuple(f'button[aria-label="{t}"]' for t in _upload_names()),
    # gr.Dataframe wider than a phone: its scrolling area takes no focus (the grid does, and
    # the arrow keys move from cell to cell, scrolling it)
    "scrollable-region-focusable": ".virtual-table-viewport",
}


@dataclass
class RunningApp:
    ctx: object  # serve.context.AppContext
    url: str
    demo: object  # gradio.Blocks


@contextmanager
def running_app(data_dir: Path, photo_roots: tuple[Path, ...], users: dict[str, str]
                ) -> Iterator[RunningApp]:
    """The app on 127.0.0.1 (free port) over `data_dir`, with `users` {name: role} created
    (password: `password(name)`, bcrypt cost 4); closed on exit."""
    import pytest

    from serve.app import build_app, launch
    from serve.context import AppConfig, AppContext

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WILDLIFE_BCRYPT_ROUNDS", "4")
        ctx = AppContext(AppConfig(data_dir=data_dir, host="127.0.0.1", port=free_port(),
                                   photo_roots=photo_roots))
        for name, role in users.items():
            ctx.store.add_user(name, role, password(name))
        demo = build_app(ctx)
        launch(demo, ctx, prevent_thread_lock=True, quiet=True)
        try:
            yield RunningApp(ctx, f"http://127.0.0.1:{ctx.config.port}/", demo)
        finally:
            demo.close()
            ctx.store.close()


# --- the page ------------------------------------------------------------------------------


def login(page, url: str, name: str, secret: str | None = None, lang: str = "en") -> None:
    """Sign in through Gradio's login page (shown in the browser's language, `lang`) and wait
    for the app's header."""
    from serve.i18n import t

    page.goto(url)
    page.get_by_label(t("gradio.login.username", lang), exact=True).fill(name)
    page.get_by_label(t("gradio.login.password", lang), exact=True).fill(password(name) if secret is None else secret)
    page.get_by_role("button", name=t("gradio.login.login", lang), exact=True).click()
    if secret is None and lang != "en":
        page.get_by_role("tab", name=t("app.tab.identify", lang), exact=True).wait_for()
        return
    if secret is None:
        page.get_by_text(re.compile(re.escape(name) + r"\s*\(")).first.wait_for()
        page.get_by_role("tab", name=t("app.tab.identify"), exact=True).wait_for()


def shown(key: str, **known) -> re.Pattern:
    """A pattern for the English text of `key` with the `known` parameters filled in and
    any other placeholder matching anything (e.g. a case number or a duration)."""
    import string

    from serve.i18n import strings

    template = strings("en")[key]
    names = {field for _, field, _, _ in string.Formatter().parse(template) if field}
    marks = {name: f"QQ{i}QQ" for i, name in enumerate(sorted(names - set(known)))}
    pattern = re.escape(template.format(**marks, **known))
    for mark in marks.values():  # plain groups: Playwright runs the pattern in JavaScript
        pattern = pattern.replace(mark, "(.+?)")
    return re.compile(f"^{pattern}$")


def block(page, label: str):
    """The Gradio component block (div or fieldset) whose label is `label`."""
    return page.locator("div.block, fieldset.block",
                        has=page.get_by_text(label, exact=True)).last


def visible_tabs(page) -> set[str]:
    tabs = page.get_by_role("tab")
    return {tabs.nth(i).inner_text().strip() for i in range(tabs.count()) if tabs.nth(i).is_visible()}


def grid_rows(page, label: str) -> list[list[str]]:
    """The data rows of the Dataframe labelled `label`, as shown (cell texts)."""
    grid = page.get_by_role("grid", name=label)
    rows = grid.locator("[role=row]:has([role=gridcell])")
    return [[c.strip() for c in rows.nth(i).locator("[role=gridcell]").all_inner_texts()]
            for i in range(rows.count())]


def pick(page, label: str, option: str) -> None:
    """Choose `option` in the dropdown labelled `label`."""
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def wait_gone(locator, timeout: float = 30_000) -> None:
    locator.first.wait_for(state="detached", timeout=timeout)


# --- screenshots ---------------------------------------------------------------------------


def screenshot(page, name: str, *, until=None, height: int = 1400, viewport: bool = False) -> Path:
    """Write docs/screenshots/<name>.png: the page from the top down to the bottom of
    `until` (a locator) or `height` CSS pixels, or (`viewport`) the screen as the user
    sees it now, scaled to SCREENSHOT_WIDTH at most and reduced to a 128-colour palette
    so that it stays small. Returns the path."""
    from PIL import Image

    if viewport:
        shot = page.screenshot()
    else:
        page.evaluate("window.scrollTo(0, 0)")
        size = page.evaluate("() => [document.documentElement.scrollWidth,"
                             " document.documentElement.scrollHeight]")
        bottom = height
        if until is not None:
            box = until.bounding_box()
            assert box is not None, f"{name}: the element to crop at is not shown"
            bottom = box["y"] + box["height"] + 16
        clip = {"x": 0, "y": 0, "width": size[0], "height": min(bottom, size[1])}
        shot = page.screenshot(full_page=True, clip=clip)
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    if image.width > SCREENSHOT_WIDTH:
        image = image.resize((SCREENSHOT_WIDTH, round(image.height * SCREENSHOT_WIDTH / image.width)),
                             Image.Resampling.LANCZOS)
    small = image.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    out = SCREENSHOTS / f"{name}.png"
    tmp = out.with_suffix(".tmp")
    small.save(tmp, format="PNG", optimize=True)
    tmp.replace(out)
    assert out.stat().st_size < SCREENSHOT_MAX_BYTES, (
        f"{out} is {out.stat().st_size} bytes; keep README screenshots under "
        f"{SCREENSHOT_MAX_BYTES} (crop it with `until=` or a smaller `height`)")
    return out


# --- fixtures shared by the browser test modules (imported there) -------------------------


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser):
    """make(viewport=VIEWPORT) -> a page in a fresh browser context (its own cookies and
    storage: a new visitor)."""
    contexts = []

    def make(viewport: dict = VIEWPORT):
        context = browser.new_context(viewport=viewport, locale="en-US",
                                      has_touch=viewport["width"] < 600)
        context.set_default_timeout(60_000)
        contexts.append(context)
        return context.new_page()
    yield make
    for context in contexts:
        context.close()


# --- what a person perceives --------------------------------------------------------------


def axe_violations(page, context: str | None = None, allowed: dict[str, str] | None = None
                   ) -> list[str]:
    """Serious and critical axe-core findings on the page (or inside `context`, a CSS
    selector), minus GRADIO_OWN_VIOLATIONS and `allowed` (rule id -> target fragment), as
    "rule: target (summary)" lines."""
    from axe_playwright_python.sync_playwright import Axe

    known = {**GRADIO_OWN_VIOLATIONS, **(allowed or {})}
    # Colours are read as drawn: let fades and other finite transitions end first.
    page.wait_for_function("""() => document.getAnimations().every(a =>
        a.effect.getTiming().iterations === Infinity || a.playState !== 'running')""")
    results = Axe().run(page, context=context).response
    found = []
    for v in results["violations"]:
        if v["impact"] not in ("serious", "critical"):
            continue
        allowed_here = known.get(v["id"])
        for node in v["nodes"]:
            target = " ".join(map(str, node["target"]))
            fragments = (allowed_here,) if isinstance(allowed_here, str) else allowed_here or ()
            if not any(f in target for f in fragments):
                found.append(f"{v['id']}: {target} ({node['failureSummary'].splitlines()[-1].strip()})")
    return found


def small_targets(page, within: str = "body") -> list[str]:
    """Visible controls under `within` smaller than TAP_TARGET on a side: buttons, links
    (not links inside running text), tabs and the labels of radio buttons and check boxes."""
    return page.evaluate("""([within, side]) => {
      const root = document.querySelector(within) || document.body;
      const out = [];
      const items = root.querySelectorAll('button, a[href], [role=tab], label:has(input[type=radio]),'
                                          + ' label:has(input[type=checkbox])');
      for (const el of items) {
        if (el.closest('[aria-hidden=true], .visually-hidden')) continue;
        if (el.matches('a') && el.closest('p, li') && !el.closest('.file-preview')) continue;
        const r = el.getBoundingClientRect();
        const style = getComputedStyle(el);
        if (!r.width || !r.height || style.visibility === 'hidden' || !el.offsetParent) continue;
        if (el.matches('input[type=radio], input[type=checkbox]')) continue;
        if (r.width < side - 0.5 || r.height < side - 0.5) {
          const name = (el.getAttribute('aria-label') || el.innerText || el.className || '').trim();
          out.push(`${el.tagName.toLowerCase()} "${name.slice(0, 40)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
        }
      }
      return out;
    }""", [within, TAP_TARGET])


def cut_texts(page) -> list[str]:
    """Visible texts the page cuts short with an ellipsis ("Elephant ivory ca…")."""
    return page.evaluate("""() => {
      const out = [];
      for (const el of document.body.querySelectorAll('*')) {
        if (!el.offsetParent || el.closest('[aria-hidden=true]')) continue;
        const style = getComputedStyle(el);
        if (style.textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth + 1)
          out.push(el.textContent.trim().slice(0, 60));
      }
      return out;
    }""")


def wait_in_view(page, locator, timeout: float = 30_000) -> None:
    """Wait until `locator` lies wholly inside the visible screen (after the page scrolled)."""
    handle = locator.element_handle()
    page.wait_for_function("""(el) => {
      const r = el.getBoundingClientRect();
      return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight
             && r.left >= 0 && r.right <= window.innerWidth;
    }""", arg=handle, timeout=timeout)


def wait_quiet(page, timeout: float = 60_000) -> None:
    """Wait until no Gradio event is pending or running (no status tracker busy) for a
    few animation frames in a row: every request the page sent has been answered."""
    page.wait_for_function("""() => {
      const busy = document.querySelector('.pending, .generating, .progress-text');
      window.__quietFrames = busy ? 0 : (window.__quietFrames || 0) + 1;
      return window.__quietFrames >= 10;
    }""", polling="raf", timeout=timeout)


def result_rows(page) -> list[list[str]]:
    """The cell texts of the Identify tab's results table (serve/ui/results.py), as a
    screen reader reads them (icons marked aria-hidden left out)."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('table.results tbody tr'))
      .map(tr => Array.from(tr.querySelectorAll('td')).map(td => {
        const copy = td.cloneNode(true);
        copy.querySelectorAll('[aria-hidden=true]').forEach(e => e.remove());
        return copy.textContent.trim();
      }))""")


# --- the Identify tab -------------------------------------------------------------------


def confident_photo(ctx, photos_root: Path) -> tuple[Path, object]:
    """A test-split ivory carving (else giant panda) photo the served model identifies
    correctly with high confidence, and its identification."""
    from serve.identify.decisions import DecisionKind
    from species_data.dataset import Split, scan

    predictor = ctx.predictor()
    for label in ("ivory_carving", "giant_panda"):
        if label not in predictor.labels:
            continue
        held_out = [p for p in scan([photos_root], [label]).photos if p.split is Split.TEST]
        for photo in sorted(held_out, key=lambda p: p.path.name)[:12]:
            ident = predictor.identify(photo.path, name=photo.path.name)
            d = ident.decision
            if d.kind is DecisionKind.IDENTIFIED and d.label == label and d.confidence >= 0.95:
                return photo.path, ident
    pytest.fail("the served model identifies none of 12 held-out ivory carving or giant panda "
                "photos with 95 % confidence: the model is broken, not the page")


def percent(text: str) -> float:
    match = re.fullmatch(r"(\d+)\s*%", text.strip())
    assert match, f"not a percentage: {text!r}"
    return float(match.group(1))


def identify_in_page(page, photos: list[Path]) -> None:
    """Upload `photos` on the Identify tab and press Identify; waits for the verdict card."""
    from serve.i18n import t

    page.get_by_role("tab", name=t("app.tab.identify"), exact=True).click()
    page.locator("input[type=file][multiple]").set_input_files([str(p) for p in photos])
    for photo in photos:
        page.get_by_text(photo.stem).first.wait_for()
    page.get_by_role("button", name=t("app.identify.run"), exact=True).click()
    verdict_card(page).wait_for(timeout=180_000)


def verdict_card(page):
    from serve.ui.theme import VERDICT_ID

    return page.locator(f"#{VERDICT_ID} .verdict")


def open_section(page, label: str):
    """Unfold the accordion labelled `label`; returns the accordion's block."""
    toggle = page.locator("button.label-wrap", has_text=label)
    toggle.wait_for()
    section = page.locator("div.gr-accordion", has=toggle).last
    if toggle.get_attribute("aria-expanded") != "true":  # set by serve/ui/theme.py's script
        toggle.click()
    section.locator("[data-testid=accordion-content]").first.wait_for()
    return section


def sheet_heading(page, name: str):
    """The title of the species sheet (a Markdown heading in its accordion)."""
    return page.locator(".prose").get_by_role("heading", name=name, exact=True)

