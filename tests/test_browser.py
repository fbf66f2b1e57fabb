"""End-to-end journeys in a real browser (Debian's Chromium through Playwright), asserting
what each page shows, and writing the README screenshots (docs/screenshots/*.png):

1. an officer signs in, identifies a real photo, reads label, confidence, CITES status and
   cues, saves a case and finds it in the case history;
2. a trainee answers a five-question quiz: feedback after each answer, and a final score
   equal to the right answers the feedback showed;
3. a trainer adds a catalogue entry, uploads 20 photos of a class the model has never
   seen, runs a quick update and publishes it; an officer's held-out photo of that class
   is then identified as the new entry;
4. a trainee has no Trainer tab and the trainer API refuses them; a signed-out visitor
   sees only the login page, and a signed-out session cookie no longer works.

Two app servers (127.0.0.1, free ports, temporary data folders): one on the test bundle
for journeys 1, 2 and 4, and one on a 3-class bundle (tests/trainer_world.py) for
journey 3, which publishes a new model. Skipped only when /usr/bin/chromium is missing.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from serve.i18n import t
from serve.ui.theme import STATUS_ID
from train.class_cv import MIN_TEST_PHOTOS
from tests.browser_helpers import (CHROMIUM, block, browser, confident_photo, grid_rows,  # noqa: F401
                                   identify_in_page, login, new_page, open_section, password,
                                   percent, pick, result_rows, running_app, screenshot,
                                   sheet_heading, shown, verdict_card, visible_tabs, wait_gone)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")]

USERS = {"olga": "officer", "tina": "trainee", "tess": "trainee", "trev": "trainer"}
NEW_ID = "spiny_seahorse_test"  # the catalogue entry journey 3 adds
NEW_NAME = "Spiny seahorse (test entry)"
NEW_CUE = "Long sharp spines on the head and on the body rings."
NEW_PHOTOS = 20  # train-split seahorse photos uploaded for it
SLOW_MS = 180_000  # model work on a loaded 2-core machine (quick update, first identify)


@pytest.fixture(scope="module")
def app(tmp_path_factory, model_bundle, photos_root):
    """The app on the test bundle (journeys 1, 2 and 4)."""
    data = tmp_path_factory.mktemp("browser-app") / "data"
    (data / "models").mkdir(parents=True)
    (data / "models" / "current").symlink_to(model_bundle)
    with running_app(data, (photos_root,), USERS) as running:
        yield running


# --- 1. officer ----------------------------------------------------------------------------


def test_officer_identifies_a_photo_saves_a_case_and_finds_it_in_history(app, new_page, photos_root):
    from serve.identify.species_card import appendix_text

    ctx = app.ctx
    photo, ident = confident_photo(ctx, photos_root)
    label, conf = ident.decision.label, ident.decision.confidence
    entry = ctx.catalogue()[label]
    name = entry.common_name("en")

    page = new_page()
    login(page, app.url, "olga")
    assert page.get_by_text(t("app.signed_in", name="olga", role=t("app.role.officer"))
                            .replace("**", "")).count() == 1
    identify_in_page(page, [photo])
    version = ident.model_version
    status = page.locator(f"#{STATUS_ID}")
    assert status.inner_text().strip() == f"1 photo: 1 identified. Model {version}."

    # The results: one row, identified, the species, its confidence and CITES status.
    (row,) = result_rows(page)
    assert row[:3] == [photo.name, t("app.identify.result.identified"), name]
    assert abs(percent(row[3]) - 100 * conf) <= 1
    assert row[4:] == [appendix_text(entry, "en"), t("app.yes") if entry.protected else t("app.no")]

    # The verdict card: the headline with the confidence, the CITES warning and action, steps.
    card = verdict_card(page)
    headline = card.get_by_role("heading", name=re.compile(re.escape(name) + r" \(\d+% model confidence\)"))
    headline_pct = percent(re.search(r"\((\d+%)", headline.inner_text()).group(1))
    assert abs(headline_pct - 100 * conf) <= 1
    card.get_by_text(t("decision.cites.tentative"), exact=True).wait_for()
    if entry.appendix.value != "none":
        card.get_by_text(t(f"decision.cites.appendix_{entry.appendix.value.lower()}"), exact=True).wait_for()
    assert card.locator("ol li").all_inner_texts() == list(entry.handling_in("en").value[:3])

    # Folded below: the scores and heat map for experts, the species sheet with its cues.
    experts = open_section(page, t("app.identify.top5.label"))
    experts.get_by_text(name).first.wait_for()  # drawn when the section opens
    heat = block(page, t("app.identify.heatmap.label")).locator("img")
    heat.first.wait_for(timeout=SLOW_MS)
    assert heat.first.get_attribute("alt") == t("app.identify.heatmap.alt", photo=photo.name, name=name)
    screenshot(page, "identify", until=block(page, t("app.identify.heatmap.label")))
    open_section(page, t("app.identify.sheet.label", name=name))
    sheet_heading(page, name).wait_for()
    for cue in entry.cues_in("en").value[:2]:
        assert page.get_by_text(cue, exact=True).is_visible(), cue

    # Every look-alike next to the officer's photo, shown without scrolling to it; one without
    # a reference photo says so (issue 18 item 5: lazy gallery thumbnails looked empty).
    pairs = page.locator(".lookalike-pair")
    pairs.first.wait_for()
    with_photo = [la for la in entry.lookalikes if ctx.quiz.example_photo(la.id) is not None]
    assert pairs.count() == len(entry.lookalikes)
    assert page.locator(".lookalike-pair img").count() == len(entry.lookalikes) + len(with_photo)
    assert page.locator(".lookalike-pair .no-photo").count() == len(entry.lookalikes) - len(with_photo)
    page.wait_for_function("() => [...document.querySelectorAll('.lookalike-pair img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)", timeout=10_000)

    # Save the case: once, and the button says which case it became.
    shipment = "AWB-E2E-0001"
    page.get_by_label(t("app.case.shipment.label"), exact=True).fill(shipment)
    page.get_by_label(t("app.case.note.label"), exact=True).fill("Carved figure; base shows cross-hatching.")
    page.get_by_label(t("app.case.action.detained"), exact=True).check()
    page.get_by_role("button", name=t("app.case.save"), exact=True).click()
    saved = page.get_by_text(shown("app.case.saved", action=t("app.case.action.detained"), name=name))
    saved.wait_for()
    (case,) = ctx.store.list_cases(officer="olga", text=shipment)
    assert saved.inner_text() == t("app.case.saved", id=case.id, action=t("app.case.action.detained"),
                                   name=name)
    done = page.get_by_role("button", name=t("app.case.saved_button", id=case.id), exact=True)
    done.wait_for()
    assert done.is_disabled()
    assert (case.label, case.action.value, case.model_version) == (label, "detained", version)
    # the seizure form's defaults: today, and the model's answer as the commodity
    assert case.seizure.commodity == label and case.seizure.seizure_date == case.created_at.date()

    # ... and find it in the history, listed as soon as the tab opens.
    page.get_by_role("tab", name=t("app.tab.history"), exact=True).click()
    page.get_by_text(t("app.history.count", count=1), exact=True).wait_for()
    page.get_by_label(t("app.history.text.label"), exact=True).fill("E2E-0001")
    page.get_by_role("button", name=t("app.history.search"), exact=True).click()
    page.get_by_text(t("app.history.count", count=1), exact=True).wait_for()
    (hist,) = grid_rows(page, t("app.history.table.label"))
    assert hist[0] == str(case.id) and hist[2:8] == [
        "olga", shipment, t("app.case.action.detained"), name, name, t("app.identify.result.identified")]
    assert hist[8:] == ["", "", version, "Carved figure; base shows cross-hatching."]
    screenshot(page, "history", until=block(page, t("app.history.downloads.label")))


def test_officer_narrows_an_unphotographed_item_with_the_key(app, new_page):
    """No photo of red sanders exists: the key's questions lead to it anyway."""
    target = app.ctx.catalogue()["red_sanders"]
    page = new_page()
    login(page, app.url, "olga")
    page.get_by_text(t("key.accordion"), exact=True).click()
    page.get_by_role("button", name=t("key.start"), exact=True).click()
    for _ in range(8):
        short = page.locator(".key-short-list")
        if short.count():
            break
        heading = page.locator(".prose h3").filter(has_text="?").last
        heading.wait_for()
        attribute = next(a for a in target.key.traits if t(f"key.question.{a.value}") == heading.inner_text().strip())
        value = target.key.typical(attribute)
        option = page.get_by_role("radio", name=re.compile(
            r"^\s*" + re.escape(t(f"key.value.{attribute.value}.{value.value}")) + r" \(\d+\)\s*$"))
        option.check()
        page.get_by_role("button", name=t("key.answer"), exact=True).click()
        heading.filter(has_text=t(f"key.question.{attribute.value}")).wait_for(state="detached")
    short.wait_for()
    assert target.common_name("en") in short.inner_text()
    assert target.cues["en"][0][:40] in short.inner_text()


# --- 2. trainee ----------------------------------------------------------------------------


def test_trainee_answers_a_five_question_quiz_and_the_score_matches_the_feedback(app, new_page):
    ctx = app.ctx
    page = new_page()
    login(page, app.url, "tina")
    page.get_by_role("tab", name=t("app.tab.quiz"), exact=True).click()
    length = page.get_by_label("number input for " + t("app.quiz.length.label"))
    length.fill("5")
    length.press("Enter")
    page.get_by_role("button", name=t("app.quiz.start"), exact=True).click()

    right_text, wrong_text = t("quiz.feedback.correct"), t("quiz.feedback.wrong")
    feedback = page.get_by_text(re.compile(rf"^({re.escape(right_text)}|{re.escape(wrong_text)})$"))
    choices = block(page, t("app.quiz.choices.label")).locator("label")
    right = 0
    for n in range(1, 6):
        page.get_by_text(t("app.quiz.progress", position=n, total=5).replace("**", ""),
                         exact=True).wait_for()
        assert feedback.count() == 0  # no verdict before answering
        labels = [x.strip() for x in choices.all_inner_texts()]
        assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
        chosen = labels[n % len(labels)]
        choices.nth(n % len(labels)).click()
        page.get_by_role("button", name=t("app.quiz.answer"), exact=True).click()
        feedback.wait_for()
        verdict = feedback.inner_text().strip()
        box = page.locator(".quiz-feedback")
        if page.get_by_text(t("quiz.prompt.identify.common"), exact=True).is_visible():
            assert box.locator(".quiz-lesson").first.is_visible()  # every answer taught (issue 17 item 5)
        if verdict == right_text:
            right += 1
            assert box.get_attribute("data-correct") == "true"
        else:  # the right answer is named, and it is another of the choices
            assert box.get_attribute("data-correct") == "false"
            expected = box.locator(".quiz-expected").inner_text().strip()
            assert expected in labels and expected != chosen, (expected, chosen, labels)
        if n < 5:
            page.get_by_role("button", name=t("app.quiz.next"), exact=True).click()
            wait_gone(feedback)
    score = page.get_by_text(shown("quiz.summary.score", total=5))
    score.wait_for()
    assert score.inner_text() == t("quiz.summary.score", score=right, total=5)
    answers = ctx.store.answers_for("tina")
    assert len(answers) == 5 and sum(a.correct for a in answers) == right
    screenshot(page, "quiz", until=score)


# --- 4. roles and signing out --------------------------------------------------------------


def test_trainee_has_no_trainer_tab_and_the_trainer_api_refuses(app, new_page):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    page = new_page()
    login(page, app.url, "tess")
    page.get_by_role("tab", name=t("app.tab.quiz"), exact=True).wait_for()
    assert visible_tabs(page) == {t("app.tab.identify"), t("app.tab.quiz")}
    assert page.get_by_role("tab", name=t("app.tab.trainer"), exact=True).count() == 0
    assert page.get_by_text(t("trainer.ui.quick_update"), exact=True).count() == 0

    ctx, before = app.ctx, (app.ctx.config.models_dir / "current").resolve()
    tess = Client(app.url, auth=("tess", password("tess")), verbose=False)
    refused = t("trainer.error.denied", action=t("trainer.permission.train"))
    with pytest.raises(AppError, match=re.escape(refused)):
        tess.predict(api_name="/trainer_quick_update")
    with pytest.raises(AppError, match="may not"):
        tess.predict("v1", True, "because", api_name="/trainer_publish")
    with pytest.raises(AppError, match="may not"):
        tess.predict(*entry_values(id=NEW_ID, kind="whole_animal", group="seahorses", names_en="X", appendix="II",
                                   scientific_name="Hippocampus histrix", checked_against="2026-02", cues="a cue",
                                   handling="a step", sources="t | https://cites.org"), api_name="/trainer_add_entry")
    assert (ctx.config.models_dir / "current").resolve() == before
    assert NEW_ID not in ctx.catalogue() and not ctx.config.catalogue_overlay.exists()
    assert not [a for a in ctx.store.audit_log() if a.action.startswith("trainer_")]


def entry_values(**fields) -> list:
    """A catalogue form as the API takes it (`EntryForm`'s order; the look-alike picker and table empty)."""
    from serve.ui.catalogue_form import EntryForm

    values = EntryForm(**fields).values()
    values[EntryForm.field_names().index("lookalikes")] = []
    values[EntryForm.field_names().index("lookalike_cues")] = {"headers": ["look-alike", "cue"], "data": []}
    return values


def test_signed_out_visitor_sees_only_the_login_page(app, new_page, browser):
    page = new_page()
    page.goto(app.url)
    page.get_by_role("button", name=t("gradio.login.login"), exact=True).wait_for()
    page.get_by_text(t("app.login.message"), exact=True).wait_for()
    assert page.get_by_role("tab").count() == 0
    assert page.get_by_text(t("app.title"), exact=True).count() == 0
    assert page.request.get(app.url + "config").status == 401
    call = page.request.post(app.url + "gradio_api/call/identify", data={"data": [[], None]})
    assert call.status == 401
    screenshot(page, "login", height=420)

    login(page, app.url, "tess", secret="not-her-password")  # a wrong password: still the login page
    page.get_by_text(t("gradio.login.incorrect_credentials"), exact=True).wait_for()
    assert page.get_by_role("tab").count() == 0

    login(page, app.url, "tess")
    cookies = page.context.cookies()
    assert page.request.get(app.url + "config").status == 200
    page.get_by_text(t("app.logout"), exact=True).click()
    page.get_by_role("button", name=t("gradio.login.login"), exact=True).wait_for()
    assert page.get_by_role("tab").count() == 0
    assert page.request.get(app.url + "config").status == 401
    stolen = browser.new_context()  # the signed-out session's cookie no longer opens the app
    try:
        stolen.add_cookies(cookies)
        assert stolen.request.get(app.url + "config").status == 401
    finally:
        stolen.close()


# --- 3. trainer ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trainer_app(tmp_path_factory, photos_root):
    """The app on a 3-class bundle (elephant, giant panda, hard coral) without seahorses."""
    from tests.trainer_world import BASE_CLASSES, build_world, fresh_world

    world = fresh_world(tmp_path_factory.mktemp("browser-trainer"), build_world(tmp_path_factory))
    assert "seahorse" not in BASE_CLASSES
    with running_app(world.data_dir, (world.photos,), USERS) as running:
        yield running


def seahorse_photos(photos_root: Path) -> tuple[list[Path], list[Path]]:
    """(train-split photos to upload, held-out test-split photos), sorted by name."""
    from species_data.dataset import Split, scan

    photos = sorted(scan([photos_root], ["seahorse"]).photos, key=lambda p: p.path.name)
    train = [p.path for p in photos if p.split is Split.TRAIN][:NEW_PHOTOS]
    held_out = [p.path for p in photos if p.split is Split.TEST]
    assert len(train) == NEW_PHOTOS and len(held_out) >= 4
    return train, held_out


def test_trainer_adds_a_class_publishes_it_and_an_officer_gets_it(trainer_app, new_page, photos_root):
    from serve.identify.decisions import DecisionKind

    ctx = trainer_app.ctx
    base = ctx.predictor()
    assert NEW_ID not in base.labels and NEW_ID not in ctx.catalogue()
    train, held_out = seahorse_photos(photos_root)
    page = new_page()
    login(page, trainer_app.url, "trev")
    page.get_by_role("tab", name=t("app.tab.trainer"), exact=True).click()

    # A new catalogue entry.
    page.get_by_role("tab", name=t("trainer.ui.tab_catalogue"), exact=True).click()
    form = {"field_id": NEW_ID, "field_scientific_name": "Hippocampus histrix",
            "field_names_en": NEW_NAME, "field_checked_against": "2026-02 (CoP20 amendments)",
            "field_cites_note": "All seahorses (Hippocampus spp.) are in Appendix II since 2004.",
            "field_cues": NEW_CUE + "\nCurled grasping tail and a tubular snout.",
            "field_handling": "Treat this as a tentative identification only.\n"
                              "Refer it to your national CITES Management Authority.",
            "field_sources": "CITES Appendices | https://cites.org/eng/app/appendices.php"}
    for key, value in form.items():
        page.get_by_label(t(f"trainer.ui.{key}"), exact=True).fill(value)
    pick(page, t("trainer.ui.field_group"), "seahorses (seahorses)")
    pick(page, t("trainer.ui.field_kind"), t("trainer.kind.whole_animal"))  # no default kind or Appendix
    pick(page, t("trainer.ui.field_appendix"), t("app.card.appendix", appendix="II"))
    page.get_by_role("button", name=t("trainer.ui.save_entry"), exact=True).click()
    page.get_by_text(t("trainer.catalogue.saved", id=NEW_ID), exact=True).wait_for()
    assert grid_rows(page, t("trainer.ui.history"))[0][1:] == ["trev", NEW_ID, "created"]
    assert ctx.catalogue()[NEW_ID].common_name("en") == NEW_NAME

    # Its photos.
    page.get_by_role("tab", name=t("trainer.ui.tab_photos"), exact=True).click()
    pick(page, t("trainer.ui.class"), NEW_ID)  # offered at once, without reloading the page
    page.get_by_label(t("trainer.ui.source"), exact=True).fill("shared/photos/seahorse, train split")
    page.get_by_label(t("trainer.ui.licence"), exact=True).fill("CC-BY-4.0")
    block(page, t("trainer.ui.files")).locator("input[type=file]").set_input_files([str(p) for p in train])
    page.get_by_text(train[-1].stem).first.wait_for()
    page.get_by_role("button", name=t("trainer.ui.upload"), exact=True).click()
    summary = t("trainer.upload.summary", accepted=NEW_PHOTOS, total=NEW_PHOTOS, id=NEW_ID)
    page.get_by_text(summary, exact=True).wait_for(timeout=SLOW_MS)
    verdicts = grid_rows(page, t("trainer.ui.verdicts"))
    assert len(verdicts) == NEW_PHOTOS and {r[1] for r in verdicts} == {t("trainer.yes")}
    assert len(ctx.store.photos_of(NEW_ID)) == NEW_PHOTOS

    # Quick update, compare, publish.
    page.get_by_role("tab", name=t("trainer.ui.tab_model"), exact=True).click()
    page.get_by_role("button", name=t("trainer.ui.quick_update"), exact=True).click()
    page.get_by_text(shown("trainer.update.done", version="v2", added=NEW_PHOTOS, removed=0,
                           new=NEW_ID)).wait_for(timeout=SLOW_MS)
    assert page.get_by_label(t("trainer.ui.candidate"), exact=True).input_value() == "v2"
    page.get_by_role("cell", name=NEW_ID, exact=True).wait_for()  # the comparison lists the new class
    page.get_by_text(t("trainer.compare.new_class"), exact=True).wait_for()
    # Only train-split photos were uploaded, no test photo: every photo of the new class is tested
    # once by k-fold (train.class_cv), the row says so, and 20 photos are enough to show no warning.
    kfold = t("trainer.compare.kfold", photos=NEW_PHOTOS, recall="@", low="@", high="@").split("@")[0]
    page.get_by_role("cell", name=re.compile(re.escape(kfold))).wait_for()
    assert NEW_PHOTOS >= MIN_TEST_PHOTOS and page.locator(".thin-class").filter(has_text=NEW_ID).count() == 0
    override = t("trainer.compare.needs_override", tolerance="@").split("@")[0]
    needs_reason = page.get_by_text(re.compile(re.escape(override))).count() > 0  # a base class
    block(page, t("trainer.ui.confusion")).locator("img").first.wait_for()  # got worse on a few photos

    # After a reload the candidate is still chosen, and publishing asks first.
    page.reload()
    page.get_by_role("tab", name=t("app.tab.trainer"), exact=True).click()
    page.get_by_role("tab", name=t("trainer.ui.tab_model"), exact=True).click()
    candidate = page.get_by_label(t("trainer.ui.candidate"), exact=True)
    page.wait_for_function("el => el.value === 'v2'", arg=candidate.element_handle(), timeout=SLOW_MS)
    page.get_by_role("button", name=t("trainer.ui.compare"), exact=True).click()
    page.get_by_role("cell", name=re.compile(re.escape(kfold))).wait_for(timeout=SLOW_MS)
    if needs_reason:
        page.get_by_label(t("trainer.ui.override"), exact=True).check()
        page.get_by_label(t("trainer.ui.override_reason"), exact=True).fill("new class for the e2e test")
    page.get_by_role("button", name=t("trainer.ui.publish"), exact=True).click()
    asked = re.compile(re.escape(t("trainer.publish.confirm", version="v2", published="v1")))
    page.get_by_text(asked).wait_for(timeout=SLOW_MS)
    assert (ctx.config.models_dir / "current").resolve().name == "v1"  # asked, not yet published
    page.get_by_role("button", name=t("trainer.ui.publish_yes"), exact=True).click()
    page.get_by_text(t("trainer.publish.done", version="v2"), exact=True).wait_for(timeout=SLOW_MS)
    page.get_by_role("button", name=t("trainer.ui.publish_yes"), exact=True).wait_for(state="hidden")
    assert (ctx.config.models_dir / "current").resolve().name == "v2"
    screenshot(page, "trainer", until=page.get_by_text(t("trainer.publish.done", version="v2")))

    # An officer now identifies a held-out seahorse photo as the new entry.
    served = ctx.predictor()
    assert served.version == "v2" and NEW_ID in served.labels
    idents = [served.identify(p, name=p.name) for p in held_out[:6]]
    hits = [(i.decision.confidence, p) for p, i in zip(held_out, idents)
            if i.decision.kind is DecisionKind.IDENTIFIED and i.decision.label == NEW_ID]
    assert len(hits) >= 4, [(i.decision.kind.value, i.decision.label) for i in idents]
    conf, photo = max(hits)
    officer = new_page()
    login(officer, trainer_app.url, "olga")
    identify_in_page(officer, [photo])
    assert officer.locator(f"#{STATUS_ID}").inner_text().strip() == "1 photo: 1 identified. Model v2."
    (row,) = result_rows(officer)
    assert row[:3] == [photo.name, t("app.identify.result.identified"), NEW_NAME]
    assert abs(percent(row[3]) - 100 * conf) <= 1 and row[4:] == [t("app.card.appendix", appendix="II"),
                                                                   t("app.yes")]
    open_section(officer, t("app.identify.sheet.label", name=NEW_NAME))
    sheet_heading(officer, NEW_NAME).wait_for()  # the new entry's species sheet
    assert officer.get_by_text(NEW_CUE, exact=True).is_visible()
