"""A walk in each complete language other than English (French, Spanish, Portuguese,
Indonesian) in a real browser (Debian's Chromium through Playwright): login page, Identify
(result, species sheet, look-alikes, the key), saving a case, History, a quiz question and
its feedback, the quiz summary, the Trainer tab's screens and the cohort report - and no
English string anywhere (issue 17 item 4).

English is recognised as in `tests/untranslated.py`: every visible text is checked against
the English strings the app owns (locale files, Gradio's own strings, catalogue texts) that
French does not share, raw translation keys and the `[en] ` fallback mark.
"""
from __future__ import annotations

import re
import string

import pytest

from serve.i18n import strings, t
from tests.browser_helpers import (CHROMIUM, LAUNCH_ARGS, VIEWPORT, login, open_section, running_app,
                                   sheet_heading, verdict_card)
from tests.untranslated import EnglishDetector, english_on

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")]

WALKS = {"fr": "fr-FR", "es": "es-MX", "pt": "pt-BR", "id": "id-ID"}  # language -> browser locale
USERS = {f"trev_{lang}": "trainer" for lang in WALKS}
SLOW_MS = 180_000


def shown_in(key: str, lang: str, **known) -> re.Pattern:
    """A pattern for the text of `key` in `lang`, unknown placeholders matching anything (the
    text as the page shows it: narrow no-break spaces read as spaces)."""
    template = strings(lang)[key].replace("**", "")
    names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    marks = {n: f"QQ{i}QQ" for i, n in enumerate(sorted(names - set(known)))}
    pattern = re.escape(template.format(**marks, **known))
    for mark in marks.values():
        pattern = pattern.replace(mark, "(.+?)")
    pattern = pattern.replace(r"\ ", "[\\s\u202f\u00a0]")
    return re.compile(pattern)


@pytest.fixture(scope="module")
def app(tmp_path_factory, model_bundle, photos_root):
    data = tmp_path_factory.mktemp("browser-languages") / "data"
    (data / "models").mkdir(parents=True)
    (data / "models" / "current").symlink_to(model_bundle)
    with running_app(data, (photos_root,), USERS) as running:
        yield running


@pytest.mark.parametrize("lang", list(WALKS))
def test_a_walk_in_a_complete_language_shows_no_english(app, photos_root, lang):
    from playwright.sync_api import sync_playwright

    from tests.test_browser import confident_photo

    detector = EnglishDetector(lang)
    found: dict[str, list] = {}

    def check(step: str, page) -> None:
        page.wait_for_timeout(300)  # let the last update paint
        hits = english_on(page, detector)
        if hits:
            found[step] = hits

    photo, ident = confident_photo(app.ctx, photos_root)
    L = lambda key, **kw: t(key, lang, **kw)  # noqa: E731
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, locale=WALKS[lang])
            context.set_default_timeout(60_000)
            page = context.new_page()

            # the login page, before anyone is signed in: the browser's language
            page.goto(app.url)
            page.get_by_role("button", name=L("gradio.login.login"), exact=True).wait_for()
            tag = "pt-BR" if lang == "pt" else lang
            assert page.evaluate("document.documentElement.lang") == tag
            assert page.title() == L("app.page_title")
            check("login", page)

            login(page, app.url, f"trev_{lang}", lang=lang)
            assert page.evaluate("document.documentElement.lang") == tag
            check("start", page)

            # Identify: verdict card, results, then every folded section: scores, species sheet
            # with its look-alikes, sources
            page.locator("input[type=file][multiple]").set_input_files(str(photo))
            page.get_by_text(photo.stem).first.wait_for()
            page.get_by_role("button", name=L("app.identify.run"), exact=True).click()
            verdict_card(page).wait_for(timeout=SLOW_MS)
            check("identify", page)
            name = app.ctx.catalogue()[ident.decision.label].common_name(lang)
            open_section(page, L("app.identify.top5.label"))
            open_section(page, L("app.identify.sheet.label", name=name))
            sheet_heading(page, name).wait_for()
            open_section(page, L("app.card.sources"))
            check("identify, folded sections", page)
            page.get_by_text(shown_in("key.accordion", lang)).first.click()  # "No match? Use the key"
            check("identify, key", page)

            # save the case, then find it in History
            page.get_by_label(L("app.case.shipment.label"), exact=True).fill(f"LTA 123-{lang}")
            page.get_by_label(L("app.case.note.label"), exact=True).fill({"fr": "Figurine sculptée, socle à vérifier.", "es": "Figura tallada, revisar la base.", "pt": "Estatueta entalhada, verificar a base.", "id": "Patung ukir, periksa alasnya."}[lang])
            page.get_by_label(L("app.case.action.detained"), exact=True).check()
            page.get_by_role("button", name=L("app.case.save"), exact=True).click()
            page.get_by_text(shown_in("app.case.saved", lang, action=L("app.case.action.detained"))).wait_for()
            check("case saved", page)
            page.get_by_role("tab", name=L("app.tab.history"), exact=True).click()
            page.get_by_label(L("app.history.text.label"), exact=True).fill(f"123-{lang}")
            page.get_by_role("button", name=L("app.history.search"), exact=True).click()
            page.get_by_text(shown_in("app.history.count", lang, count=1)).wait_for()
            check("history", page)

            # a quiz question, its feedback and the summary
            page.get_by_role("tab", name=L("app.tab.quiz"), exact=True).click()
            page.get_by_role("button", name=L("app.quiz.start"), exact=True).click()
            page.get_by_text(shown_in("app.quiz.progress", lang, position=1)).wait_for(timeout=SLOW_MS)
            check("quiz question", page)
            page.locator("fieldset").filter(has_text=L("app.quiz.choices.label")).locator(
                "input[type=radio]").first.check()
            page.get_by_role("button", name=L("app.quiz.answer"), exact=True).click()
            page.get_by_text(L("app.quiz.card.label"), exact=True).wait_for()
            check("quiz feedback", page)
            page.get_by_role("button", name=L("app.quiz.finish"), exact=True).click()
            page.locator(".quiz-score").wait_for(timeout=SLOW_MS)
            check("quiz summary", page)

            # the trainer's screens and the cohort report
            page.get_by_role("tab", name=L("app.tab.trainer"), exact=True).click()
            check("trainer, catalogue", page)
            for sub in ("trainer.ui.tab_photos", "trainer.ui.tab_model"):
                page.get_by_role("tab", name=L(sub), exact=True).click()
                check(f"trainer, {sub}", page)
            page.get_by_role("button", name=L("trainer.ui.refresh_versions"), exact=True).click()
            page.get_by_role("grid", name=L("trainer.ui.versions")).wait_for()
            page.wait_for_timeout(1500)
            check("trainer, models", page)
            page.get_by_role("tab", name=L("app.tab.cohort"), exact=True).click()
            page.get_by_role("button", name=L("app.cohort.run"), exact=True).click()
            page.get_by_text(L("app.cohort.col.trainee"), exact=True).first.wait_for()
            check("cohort", page)
            page.get_by_role("tab", name=L("app.tab.analyst"), exact=True).click()
            page.get_by_role("button", name=L("seizures.analyst.run"), exact=True).click()
            page.wait_for_timeout(3000)
            check("analyst", page)
        finally:
            browser.close()
    report = "\n".join(f"{step}:\n  " + "\n  ".join(map(str, hits)) for step, hits in found.items())
    assert not found, f"English on {lang} pages:\n{report}"
