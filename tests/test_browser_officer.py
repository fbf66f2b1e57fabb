"""The officer's page in a real browser (Debian's Chromium through Playwright), at phone
(390 x 844) and laptop (1280 x 900) sizes (issue 17):

1. on a phone, after Identify the verdict card is on screen (the page scrolls to it):
   kind, headline, CITES action, the first three steps; nothing wider than the screen,
   no control smaller than 44 x 44 px, no text cut short; Save case saves once and says
   which case it became; accessibility audit (axe-core) clean;
2. at both sizes, a batch with a PDF, a text file named .jpg and a photo that is not
   recognised: every file is counted in the summary, the unreadable ones are listed under
   the results with a short reason, the progress shows in the summary line, a photo that
   is not recognised looks like it (no species, no number, the scores folded "for
   experts"), the CSV uses the screen's words; audit clean;
3. keyboard only: every control reached, a visible focus ring, and leaving the photo
   picker empty raises no error;
4. History lists the officer's cases as soon as it opens; dates are picked on a calendar;
   audit clean at both sizes;
5. the sign-in page's audit is clean but for Gradio's own missing page title.

Serious or critical audit findings inside Gradio's own components are listed in
`tests/browser_helpers.GRADIO_OWN_VIOLATIONS` and the README; anything else fails.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from serve.i18n import t
from serve.ui.theme import STATUS_ID
from tests.browser_helpers import (CHROMIUM, PHONE, VIEWPORT, axe_violations, block,  # noqa: F401
                                   browser, confident_photo, cut_texts, grid_rows,
                                   identify_in_page, login, new_page, open_section, percent,
                                   pick, result_rows, running_app, screenshot, small_targets,
                                   verdict_card, wait_in_view, wait_quiet)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")]

USERS = {"omar": "officer", "hana": "officer", "kim": "officer", "lena": "officer"}


@pytest.fixture(scope="module")
def app(tmp_path_factory, model_bundle, photos_root):
    data = tmp_path_factory.mktemp("browser-officer") / "data"
    (data / "models").mkdir(parents=True)
    (data / "models" / "current").symlink_to(model_bundle)
    with running_app(data, (photos_root,), USERS) as running:
        yield running


def unrecognised_photo(ctx, ood_root: Path) -> tuple[Path, object]:
    """An out-of-catalogue photo (a motorbike, a face...) the served model does not
    recognise, and its identification."""
    from serve.identify.decisions import DecisionKind

    predictor = ctx.predictor()
    for path in sorted(ood_root.glob("*.jpg"))[:40]:
        ident = predictor.identify(path, name=path.name)
        if ident.decision.kind is DecisionKind.UNKNOWN:
            return path, ident
    pytest.fail(f"the served model recognises every one of 40 photos in {ood_root}: "
                "its out-of-catalogue rule is broken, not the page")


@pytest.fixture(scope="module")
def ood_root(photos_root) -> Path:
    root = photos_root.parent / "photos_ood"
    if not root.is_dir():
        pytest.skip(f"out-of-catalogue photos not found at {root}")
    return root


# --- 1. phone ----------------------------------------------------------------------------


def test_on_a_phone_the_verdict_is_on_screen_after_identify_and_a_case_saves_once(
        app, new_page, photos_root):
    ctx = app.ctx
    photo, ident = confident_photo(ctx, photos_root)
    entry = ctx.catalogue()[ident.decision.label]
    name = entry.common_name("en")
    page = new_page(PHONE)
    login(page, app.url, "omar")
    identify_in_page(page, [photo])

    card = verdict_card(page)
    wait_in_view(page, card.locator("h2"))  # the page came to the verdict
    assert page.evaluate("window.scrollY") > 0
    assert card.locator(".kind-word").text_content() == t("app.identify.result.identified")
    assert card.locator("h2").inner_text().startswith(f"Very likely {name} (")
    card.get_by_text(t(f"decision.cites.appendix_{entry.appendix.value.lower()}"), exact=True).wait_for()
    assert card.locator("ol li").all_inner_texts() == list(entry.handling_in("en").value[:3])
    # On a phone: nothing wider than the screen, no small target, no text cut short.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert small_targets(page) == []
    assert cut_texts(page) == []
    (row,) = result_rows(page)  # the results as a stacked card, every value on screen
    assert row[:3] == [photo.name, t("app.identify.result.identified"), name]
    box = page.locator("table.results td.result-confidence").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    screenshot(page, "identify-phone", viewport=True)

    # Save case is part of the card: under the verdict within a screen and a half (the seizure
    # fields are folded), not several screens down.
    save = page.get_by_role("button", name=t("app.case.save"), exact=True)
    assert save.bounding_box()["y"] - card.bounding_box()["y"] < 1.5 * PHONE["height"]
    # Save case: once; the button then says which case it became and cannot be pressed.
    page.get_by_label(t("app.case.shipment.label"), exact=True).fill("AWB-PHONE-1")
    page.get_by_label(t("app.case.action.detained"), exact=True).check()
    page.get_by_role("button", name=t("app.case.save"), exact=True).click()
    (case,) = wait_for_cases(ctx, "omar", 1, page)
    done = page.get_by_role("button", name=t("app.case.saved_button", id=case.id), exact=True)
    done.wait_for()
    assert done.is_disabled()
    page.get_by_label(t("app.case.note.label"), exact=True).fill("a second item in the crate")
    again = page.get_by_role("button", name=t("app.case.save"), exact=True)
    again.wait_for()  # a change means another case: Save is ready again
    assert again.is_enabled() and len(ctx.store.list_cases(officer="omar")) == 1
    assert axe_violations(page) == []


def wait_for_cases(ctx, officer: str, count: int, page, timeout_s: float = 90):
    """The officer's cases once there are `count` of them (the page saves in the background)."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        cases = ctx.store.list_cases(officer=officer)
        if len(cases) >= count:
            return cases
        page.wait_for_timeout(100)  # lets the page run while the database is polled
    pytest.fail(f"{officer} has {len(ctx.store.list_cases(officer=officer))} cases after "
                f"{timeout_s} s; expected {count}; the page says "
                f"{page.locator('.toast-body').all_inner_texts()}")


# --- 2. laptop batch ---------------------------------------------------------------------


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_a_batch_with_a_pdf_and_a_text_file_counts_every_file_and_shows_not_recognised_plainly(
        app, new_page, photos_root, ood_root, tmp_path, size):
    ctx = app.ctx
    photo, ident = confident_photo(ctx, photos_root)
    name = ctx.catalogue()[ident.decision.label].common_name("en")
    odd, odd_ident = unrecognised_photo(ctx, ood_root)
    pdf = tmp_path / "shipment_manifest.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% a shipment manifest, not a photo\n")
    text = tmp_path / "notes.jpg"
    text.write_text("Inspection notes typed on a phone and saved with the wrong name.\n" * 20)
    page = new_page(PHONE if size == "phone" else VIEWPORT)
    login(page, app.url, "hana")
    files = block(page, t("app.identify.files.label"))
    page.locator("input[type=file][multiple]").set_input_files([str(p) for p in (photo, odd, pdf, text)])
    for f in (photo, odd, pdf, text):  # every file stays in the list; no "Error" on the box
        files.locator("td.filename", has_text=f.stem).wait_for()
    assert files.get_by_text("Error", exact=True).count() == 0
    page.evaluate("""(id) => {  // record whether the progress shows in the summary line
      window.__progressInStatus = false;
      new MutationObserver(() => {
        if (document.querySelector('#' + id + ' .pending, #' + id + ' .progress-text'))
          window.__progressInStatus = true;
      }).observe(document.body, {subtree: true, childList: true, attributes: true});
    }""", STATUS_ID)
    page.get_by_role("button", name=t("app.identify.run"), exact=True).click()
    status = page.locator(f"#{STATUS_ID}")
    expected = (f"4 photos: 1 identified, 1 not recognised, 2 not readable: {pdf.name}, {text.name}. "
                f"Model {ident.model_version}.")
    status.get_by_text(expected, exact=True).wait_for(timeout=180_000)
    assert page.evaluate("window.__progressInStatus") is True

    rows = result_rows(page)
    assert [r[0] for r in rows] == [photo.name, odd.name]  # failures are not table rows
    assert rows[0][1:3] == [t("app.identify.result.identified"), name]
    assert rows[1] == [odd.name, t("app.identify.result.unknown"), "—", "—", "—", "—"]
    failed = page.locator(".failures li").all_inner_texts()
    assert failed == [f"{pdf.name} — {t('app.identify.reason.not_photo')}",
                      f"{text.name} — {t('app.identify.reason.not_photo')}"]
    assert max(len(c) for r in rows for c in r) < 80  # no long error in a cell

    # The photo that is not recognised: no species, no number, scores only for experts.
    pick(page, t("app.identify.select.label"), odd.name)
    card = verdict_card(page)
    card.locator("h2", has_text=t("decision.unknown.not_recognised")).wait_for()
    if odd_ident.decision.out_of_distribution:  # why, under the title
        card.get_by_text(t("decision.unknown.out_of_scope"), exact=True).wait_for()
    assert card.locator(".kind-word").text_content() == t("app.identify.result.unknown")
    assert "%" not in card.inner_text()
    experts = open_section(page, t("app.identify.closest.label"))
    assert experts.locator("h2, .output-class").count() == 0  # no class named as a headline
    sheet = t("app.identify.sheet.label", name="").split(":")[0]  # "Species sheet"
    assert page.locator("button.label-wrap:visible", has_text=re.compile("^" + re.escape(sheet))).count() == 0

    # The CSV says what the screen says.
    link = block(page, t("app.identify.downloads.label")).locator("a[download$='.csv']")
    body = page.request.get(link.get_attribute("href")).text().lstrip("\ufeff")
    table = list(csv.reader(io.StringIO(body)))
    by_file = {r[0]: r for r in table[1:]}
    assert by_file[photo.name][1:4] == [t("app.identify.result.identified"), name,
                                        f"{round(100 * ident.decision.confidence)}%"]
    assert by_file[odd.name][1:4] == [t("app.identify.result.unknown"), "", ""]
    assert pdf.name in by_file and "unknown" not in [r[1] for r in table[1:]]
    assert axe_violations(page) == []
    if size == "phone":  # stacked cards: every value on screen, nothing wider than it
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert small_targets(page) == [] and cut_texts(page) == []
    else:
        screenshot(page, "identify-batch", until=page.locator(".failures"))


# --- 3. keyboard -------------------------------------------------------------------------


def focus_walk(page, steps: int = 60) -> list[dict]:
    """Press Tab `steps` times; what had the focus after each press, and its focus ring."""
    seen = []
    for _ in range(steps):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("""() => {
          const el = document.activeElement;
          const style = getComputedStyle(el);
          return {tag: el.tagName, label: el.getAttribute('aria-label') || el.innerText || '',
                  outline: parseFloat(style.outlineWidth) || 0, outlineStyle: style.outlineStyle};
        }"""))
    return seen


def test_keyboard_only_reaches_the_controls_with_a_visible_ring_and_no_spurious_error(
        app, new_page, photos_root):
    from species_data.dataset import Split, scan

    photos = [p.path for p in scan([photos_root], ["tiger"]).photos if p.split is Split.TEST][:2]
    page = new_page(VIEWPORT)
    login(page, app.url, "kim")
    walk = focus_walk(page)
    picker = t("app.identify.select.label")
    assert picker not in [w["label"] for w in walk]  # no empty picker before there is a choice
    reached = [w for w in walk if w["tag"] in ("BUTTON", "INPUT", "TEXTAREA", "A")]
    assert any(w["label"] == t("app.identify.run") for w in reached)
    assert all(w["outline"] >= 2 and w["outlineStyle"] != "none" for w in reached), [
        w for w in reached if w["outline"] < 2][:3]

    identify_in_page(page, photos)  # two photos: the picker appears, with a choice
    box = page.get_by_label(picker, exact=True)
    box.click()
    box.press("Control+a")
    box.press("Delete")  # leave it empty, as a keyboard user passing by might
    box.press("Tab")
    walk = focus_walk(page, 30)
    wait_quiet(page)
    assert page.locator(".toast-body").count() == 0, page.locator(".toast-body").all_inner_texts()
    assert page.get_by_text("Error", exact=True).count() == 0
    assert len(walk) == 30


# --- 4. history --------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["phone", "laptop"])
def test_history_lists_the_officers_cases_when_opened_and_dates_are_picked(app, new_page, size):
    ctx = app.ctx
    if not ctx.store.list_cases(officer="lena"):
        for shipment in ("AWB-H-1", "AWB-H-2"):
            ctx.store.add_case(officer="lena", action="referred", label="tiger", decision="identified",
                               prediction={}, model_version="v1", shipment_ref=shipment)
    viewport = PHONE if size == "phone" else VIEWPORT
    page = new_page(viewport)
    login(page, app.url, "lena")
    page.get_by_role("tab", name=t("app.tab.history"), exact=True).click()
    page.get_by_text(t("app.history.count", count=2), exact=True).wait_for()  # no Search pressed
    rows = grid_rows(page, t("app.history.table.label"))
    assert [r[3] for r in rows] == ["AWB-H-2", "AWB-H-1"]  # newest first

    since = t("app.history.since.label")
    page.get_by_role("button", name=since, exact=True).click()  # the calendar, named by its field
    page.locator(".picker .day:not(.other-month)", has_text=re.compile(r"^1$")).first.click()
    picked = page.get_by_role("textbox", name=since, exact=True).input_value()
    assert re.fullmatch(r"\d{4}-\d{2}-01", picked)
    until = t("app.history.until.label")  # a typed date works too
    page.get_by_role("textbox", name=until, exact=True).fill("2000-01-31")
    page.get_by_role("button", name=t("app.history.search"), exact=True).click()
    page.get_by_text(t("app.history.count", count=0), exact=True).wait_for()
    assert axe_violations(page) == []
    if size == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert small_targets(page) == []


# --- 5. signing in -------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["phone", "laptop"])
def test_the_sign_in_page_passes_the_audit(app, new_page, size):
    page = new_page(PHONE if size == "phone" else VIEWPORT)
    page.goto(app.url)
    page.get_by_role("button", name=t("gradio.login.login"), exact=True).wait_for()
    page.get_by_text(t("app.login.message"), exact=True).wait_for()
    # Gradio's login page has no <title> (the app's pages do): README, "Accessibility".
    assert axe_violations(page, allowed={"document-title": "html"}) == []
    if size == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

