"""Helpers for the end-to-end browser tests (`tests/test_browser.py`): start the app on
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
VIEWPORT = {"width": 1280, "height": 900}




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


def login(page, url: str, name: str, secret: str | None = None) -> None:
    """Sign in through Gradio's login page and wait for the app's header."""
    from serve.i18n import t

    page.goto(url)
    page.get_by_label("username").fill(name)
    page.get_by_label("password").fill(password(name) if secret is None else secret)
    page.get_by_role("button", name="Login").click()
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


def screenshot(page, name: str, *, until=None, height: int = 1400) -> Path:
    """Write docs/screenshots/<name>.png: the page from the top down to the bottom of
    `until` (a locator) or `height` CSS pixels, scaled to SCREENSHOT_WIDTH and reduced to
    a 128-colour palette so that it stays small. Returns the path."""
    from PIL import Image

    page.evaluate("window.scrollTo(0, 0)")
    size = page.evaluate("() => [document.documentElement.scrollWidth,"
                         " document.documentElement.scrollHeight]")
    bottom = height
    if until is not None:
        box = until.bounding_box()
        assert box is not None, f"{name}: the element to crop at is not shown"
        bottom = box["y"] + box["height"] + 16
    clip = {"x": 0, "y": 0, "width": size[0], "height": min(bottom, size[1])}
    image = Image.open(io.BytesIO(page.screenshot(full_page=True, clip=clip))).convert("RGB")
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
