"""The Gradio app driven through gradio_client, as a browser or script would: login,
identification, bad files, cases, history, quiz, role checks and language switching.
One server for the module (127.0.0.1, free port, tmp data dir, the test bundle)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from serve.i18n import t
from serve.ui.common import browser_language, pick_language
from tests.helpers import free_port, password

USERS = {"olga": "officer", "oscar": "officer", "tina": "trainee", "tom": "trainee",
         "tess": "trainee", "trev": "trainer", "ida": "analyst"}




@pytest.fixture(scope="module")
def server(tmp_path_factory, model_bundle, photos_root):
    from serve.app import build_app, launch
    from serve.context import AppConfig, AppContext

    old = os.environ.get("WILDLIFE_BCRYPT_ROUNDS")
    os.environ["WILDLIFE_BCRYPT_ROUNDS"] = "4"
    data = tmp_path_factory.mktemp("app") / "data"
    (data / "models").mkdir(parents=True)
    os.symlink(model_bundle, data / "models" / "current")
    ctx = AppContext(AppConfig(data_dir=data, port=free_port(), photo_roots=(photos_root,)))
    for name, role in USERS.items():
        ctx.store.add_user(name, role, password(name))
    demo = build_app(ctx)
    launch(demo, ctx, prevent_thread_lock=True, quiet=True)
    yield ctx, f"http://127.0.0.1:{ctx.config.port}/", demo
    demo.close()
    ctx.store.close()
    if old is None:
        os.environ.pop("WILDLIFE_BCRYPT_ROUNDS", None)
    else:
        os.environ["WILDLIFE_BCRYPT_ROUNDS"] = old


@pytest.fixture(scope="module")
def clients(server):
    from gradio_client import Client

    _, url, _ = server
    made = {}

    def get(name: str) -> Client:
        if name not in made:
            made[name] = Client(url, auth=(name, password(name)), verbose=False)
        return made[name]
    return get


def ivory_photo(photos_root: Path, model_bundle: Path) -> Path:
    """An ivory carving photo the bundle was fitted on (first in its manifest)."""
    manifest = model_bundle / "manifest.json"
    if manifest.exists():
        for row in json.loads(manifest.read_text()):
            if row["label"] == "ivory_carving" and row["split"] == "train":
                path = photos_root / "ivory_carving" / Path(row["path"]).name
                if path.exists():
                    return path
    return sorted((photos_root / "ivory_carving").iterdir())[0]


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims width x height pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def identify(client, *paths):
    from gradio_client import handle_file

    return client.predict([handle_file(str(p)) for p in paths], None, api_name="/identify")


def deep_keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(deep_keys(v) for v in value.values()))
    if isinstance(value, (list, tuple)):
        return set().union(*(deep_keys(v) for v in value)) if value else set()
    return set()


pytestmark = pytest.mark.app


def test_login_is_required(server):
    from gradio_client import Client

    _, url, _ = server
    with pytest.raises(Exception):
        Client(url, verbose=False).predict([], None, api_name="/identify")
    with pytest.raises(ValueError, match="login"):
        Client(url, auth=("olga", "wrong-password"), verbose=False)


def test_identify_a_real_ivory_carving(clients, photos_root, model_bundle):
    out = identify(clients("olga"), ivory_photo(photos_root, model_bundle))
    json.dumps(out)  # JSON-serialisable as it is
    (r,) = out["results"]
    assert out["failures"] == []
    assert r["decision"] == "identified" and r["label"] == "ivory_carving"
    assert r["label_name"] == "Elephant ivory carving"
    assert r["cites"]["appendix"] == "I" and r["cites"]["checked_against"]
    assert r["protected"] is True
    assert t("decision.cites.tentative") in r["advice"]
    assert r["top"][0]["label"] == "ivory_carving" and len(r["top"]) == 5


def test_bad_files_are_refused_by_name_and_the_server_keeps_serving(server, clients, tmp_path,
                                                                     photos_root, model_bundle):
    from gradio_client.exceptions import AppError

    ctx, _, _ = server
    client = clients("olga")
    cases_before = len(ctx.store.list_cases())
    junk = tmp_path / "customs-form.jpg"
    junk.write_bytes(b"this is not a photo at all")
    with pytest.raises(AppError, match="customs-form.jpg: .*not an image format"):
        identify(client, junk)
    good = ivory_photo(photos_root, model_bundle)
    cut = tmp_path / "cut-short.jpg"
    cut.write_bytes(good.read_bytes()[:1500])
    with pytest.raises(AppError, match="cut-short.jpg: .*(truncated|damaged|decoded)"):
        identify(client, cut)
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_header(20_000, 20_000))
    with pytest.raises(AppError, match="huge.png: .*decompression bomb"):
        identify(client, huge)
    single = identify(client, good)["results"][0]
    out = identify(client, junk, good)  # a batch: the bad one is listed, the good one answered
    assert [f["name"] for f in out["failures"]] == ["customs-form.jpg"]
    (batch,) = out["results"]
    assert batch["label"] == single["label"] == "ivory_carving"
    assert batch["confidence"] == pytest.approx(single["confidence"], abs=1e-4)  # batch == single
    assert len(ctx.store.list_cases()) == cases_before  # nothing was logged


def test_save_case_then_history_finds_it_for_its_officer_only(server, clients, photos_root,
                                                              model_bundle):
    from gradio_client.exceptions import AppError

    ctx, _, _ = server
    olga = clients("olga")
    sha = identify(olga, ivory_photo(photos_root, model_bundle))["results"][0]["sha256"]
    with pytest.raises(AppError, match="Choose what was done"):
        olga.predict(sha, "AWB-777-001", "carved tusk", None, api_name="/save_case")
    text, case = olga.predict(sha, "AWB-777-001", "carved tusk", "detained", api_name="/save_case")
    assert case["shipment_ref"] == "AWB-777-001" and case["label"] == "ivory_carving"
    assert case["officer"] == "olga" and case["model_version"]
    assert case["prediction"]["label"] == "ivory_carving"
    assert [ctx.photos.exists(sha) for sha in case["photos"]] == [True]
    count, table, files = olga.predict("AWB-777", "", "", "", "", api_name="/history")
    rows = table["value"]["data"]
    assert [r[0] for r in rows] == [case["id"]] and "AWB-777-001" in rows[0]
    assert any(str(f).endswith(".csv") for f in files)
    csv_file = next(f for f in files if str(f).endswith(".csv"))
    assert "AWB-777-001" in Path(csv_file).read_text()
    _, day, _ = olga.predict("", "ivory_carving", "detained", "2000-01-01", "2000-12-31",
                             api_name="/history")
    assert day["value"]["data"] == []  # the date range is applied
    _, other, _ = clients("oscar").predict("AWB-777", "", "", "", "", api_name="/history")
    assert other["value"]["data"] == []  # another officer does not see it
    _, all_, _ = clients("trev").predict("AWB-777", "", "", "", "", api_name="/history")
    assert [r[0] for r in all_["value"]["data"]] == [case["id"]]
    with pytest.raises(AppError, match="not a date"):
        olga.predict("", "", "", "31/12/2025", "", api_name="/history")


def test_saving_the_same_photo_twice_makes_one_case_unless_the_officer_changes_it(
        server, clients, photos_root, model_bundle):
    """A double press or a resent request returns the first case (serve/records/repeats.py);
    another shipment reference is another case."""
    ctx, _, _ = server
    oscar = clients("oscar")
    sha = identify(oscar, ivory_photo(photos_root, model_bundle))["results"][0]["sha256"]
    before = len(ctx.store.list_cases(officer="oscar"))
    text1, first = oscar.predict(sha, "AWB-DOUBLE-1", "two presses", "detained", api_name="/save_case")
    text2, again = oscar.predict(sha, "AWB-DOUBLE-1", "two presses", "detained", api_name="/save_case")
    assert again["id"] == first["id"] and text2 == t("app.case.repeat", id=first["id"])
    assert len(ctx.store.list_cases(officer="oscar")) == before + 1
    _, other = oscar.predict(sha, "AWB-DOUBLE-2", "two presses", "detained", api_name="/save_case")
    assert other["id"] != first["id"]
    assert len(ctx.store.list_cases(officer="oscar")) == before + 2
    assert [a.detail["case"] for a in ctx.store.audit_log(who="oscar", action="case.repeat")] == [
        first["id"]]


def test_a_batch_with_a_pdf_and_a_text_file_lists_them_with_a_short_kind(server, clients, tmp_path,
                                                                        photos_root, model_bundle):
    pdf = tmp_path / "shipment_manifest.pdf"
    pdf.write_bytes(b"%PDF-1.4 manifest")
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo at all")
    out = identify(clients("olga"), ivory_photo(photos_root, model_bundle), pdf, text)
    assert [r["name"] for r in out["results"]] == [ivory_photo(photos_root, model_bundle).name]
    assert [(f["name"], f["kind"]) for f in out["failures"]] == [
        ("shipment_manifest.pdf", "not_photo"), ("notes.jpg", "not_photo")]


def test_the_photo_picker_left_empty_changes_nothing_and_raises_nothing(server):
    """Tabbing past the empty "Show the details of" box sends an empty choice."""
    import gradio as gr

    from serve.ui.identify import IdentifyHandlers

    ctx, _, _ = server
    out = IdentifyHandlers(ctx).show_detail("", gr.Request(username="olga"))
    assert len(out) == 11 and all(isinstance(u, type(gr.skip())) for u in out)
    with pytest.raises(gr.Error, match="not among your recent"):
        IdentifyHandlers(ctx).show_detail("f" * 64, gr.Request(username="olga"))


def test_trainee_may_practise_identify_but_not_save_cases_or_see_the_cohort(clients, photos_root,
                                                                             model_bundle):
    from gradio_client.exceptions import AppError

    tina = clients("tina")
    sha = identify(tina, ivory_photo(photos_root, model_bundle))["results"][0]["sha256"]
    with pytest.raises(AppError, match="may not save cases"):
        tina.predict(sha, "X", "", "released", api_name="/save_case")
    with pytest.raises(AppError, match="may not view the cohort"):
        tina.predict(0.85, 0, api_name="/cohort")
    with pytest.raises(AppError, match="may not view cases"):
        tina.predict("", "", "", "", "", api_name="/history")
    with pytest.raises(AppError, match="may not view the cohort"):
        clients("olga").predict(0.85, 0, api_name="/cohort")


def start_quiz(client, length=5):
    out = client.predict("all", length, "medium", False, "common", api_name="/quiz_start")
    return out, out[2]


def test_quiz_start_shows_four_choices_and_never_the_answer(clients):
    out, q = start_quiz(clients("tina"))
    assert len(q["choices"]) == 4 and q["position"] == 1 and q["total"] == 5
    assert {"answer", "expected", "class_id", "group"}.isdisjoint(deep_keys(list(out)))
    photo = Path(out[4])
    values = [c["value"] for c in q["choices"]]
    assert photo.exists() and not any(v in str(photo) for v in values)  # opaque file name
    assert out[0] == q["session_id"] and out[1] == q["question_id"]


def test_quiz_answer_once_only_and_only_by_its_trainee(server, clients):
    from gradio_client.exceptions import AppError

    ctx, _, _ = server
    tina, tom = clients("tina"), clients("tom")
    _, q = start_quiz(tina)
    chosen = q["choices"][0]["value"]
    feedback, text, *_ = tina.predict(q["session_id"], q["question_id"], chosen, False,
                                      api_name="/quiz_answer")
    assert feedback["chosen"] == chosen and feedback["expected"] in [c["value"] for c in q["choices"]]
    assert feedback["correct"] == (chosen == feedback["expected"])
    verdict = t("quiz.feedback.correct" if feedback["correct"] else "quiz.feedback.wrong")
    assert f'data-correct="{str(feedback["correct"]).lower()}"' in text and verdict in text
    answers = ctx.store.answers_for("tina")
    assert answers[-1].question_id == q["question_id"]  # written when given
    with pytest.raises(AppError, match="already answered"):
        tina.predict(q["session_id"], q["question_id"], chosen, False, api_name="/quiz_answer")
    _, mine = start_quiz(tom)  # tom's own quiz: his choices are on his page
    with pytest.raises(AppError, match="another|belongs"):
        tom.predict(q["session_id"], mine["question_id"], mine["choices"][0]["value"], False,
                    api_name="/quiz_answer")
    with pytest.raises(AppError, match="not part of quiz|belongs"):
        tom.predict(mine["session_id"], q["question_id"] + 1, mine["choices"][0]["value"], False,
                    api_name="/quiz_answer")
    nxt = tina.predict(q["session_id"], api_name="/quiz_next")[2]
    assert nxt["position"] == 2 and nxt["question_id"] != q["question_id"]
    summary = tina.predict(q["session_id"], api_name="/quiz_finish")
    assert "of 1 right" in summary[0] and "<progress" in summary[0]  # the certification rule and its bar


def test_a_hard_quiz_teaches_on_every_answer_right_or_wrong(server, clients):
    """Through the API: hard questions hold look-alikes only; a right answer and a wrong one
    both come back with the cue separating two of the choices and the photos side by side."""
    ctx, _, _ = server
    catalogue = ctx.catalogue()
    tess = clients("tess")
    out = tess.predict("all", 6, "hard", False, "common", api_name="/quiz_start")
    seen = set()
    for _ in range(6):
        q = out[2]
        values = [c["value"] for c in q["choices"]]
        assert all(catalogue.link(a, b) for i, a in enumerate(values) for b in values[i + 1:]), values
        wrong_first = len(seen) % 2 == 0
        truth = ctx.quiz.photo_path(q["photo_id"]).parent.name  # tests only: the photo's folder
        chosen = next(v for v in values if v != truth) if wrong_first else truth
        feedback, page, pair, *_ = tess.predict(q["session_id"], q["question_id"], chosen, False,
                                                api_name="/quiz_answer")
        assert feedback["correct"] is (chosen == truth)
        assert feedback["cue"] and feedback["compared_with"] in values and feedback["compared_with"] != truth
        assert feedback["cue"] == catalogue.link(truth, feedback["compared_with"]).cue_in("en").value
        assert "How to tell" in page and pair is not None
        seen.add(feedback["correct"])
        if feedback["finished"]:
            break
        out = tess.predict(q["session_id"], api_name="/quiz_next")
    assert seen == {True, False}


def test_set_language_changes_labels_and_is_stored(server, clients):
    ctx, _, _ = server
    client = clients("oscar")
    out = client.predict("fr", api_name="/set_language")
    labels = [u.get("label") for u in out if isinstance(u, dict)]
    values = [u.get("value") for u in out if isinstance(u, dict)]
    assert t("app.identify.files.label", "fr") in labels
    assert t("app.identify.files.label", "fr") != t("app.identify.files.label", "en")
    assert t("app.identify.intro", "fr") in values
    assert ctx.store.get_user("oscar").language == "fr"
    back = client.predict("en", api_name="/set_language")
    assert t("app.identify.files.label", "en") in [u.get("label") for u in back if isinstance(u, dict)]
    assert ctx.store.get_user("oscar").language == "en"


def test_every_handler_is_a_named_function_or_method(server):
    """Layout code only wires handlers up: none is a closure a test could not reach."""
    _, _, demo = server
    handlers = [f.fn for f in demo.fns.values() if f.fn is not None]
    assert len(handlers) > 20
    nested = [h.__qualname__ for h in handlers if "<locals>" in h.__qualname__]
    assert nested == []


def test_a_tab_handler_can_be_called_alone(server):
    import gradio as gr

    from serve.ui.history import HistoryHandlers

    ctx, _, _ = server
    with pytest.raises(gr.Error, match="may not view cases"):
        HistoryHandlers(ctx).history("", "", "", "", "", request=gr.Request(username="tina"))
    count, table, files = HistoryHandlers(ctx).history("", "", "", "", "",
                                                       request=gr.Request(username="oscar"))
    assert table["visible"] is True and len(files) == 2


def page_load(demo, username: str, accept_language: str | None = None) -> dict:
    """Run the page-load handler as Gradio would -> {component: update}."""
    import gradio as gr

    fn = next(f for f in demo.fns.values() if f.name == "on_load")
    headers = {"accept-language": accept_language} if accept_language else {}
    updates = fn.fn(gr.Request(username=username, headers=headers))
    return dict(zip(fn.outputs, updates))


@pytest.mark.parametrize("user,tabs", [
    ("tina", {"identify", "quiz"}),
    ("olga", {"identify", "history", "quiz"}),
    ("trev", {"identify", "history", "quiz", "cohort", "trainer", "analyst"}),
    ("ida", {"history", "analyst"}),
])
def test_tabs_shown_per_role_on_page_load(server, user, tabs):
    import gradio as gr

    from serve.app import TABS, visible_tabs

    ctx, _, demo = server
    top_level = {t(f"app.tab.{name}") for name in TABS}  # the trainer tab has sub-tabs of its own
    shown = {u["label"] for c, u in page_load(demo, user).items()
             if isinstance(c, gr.Tab) and u["visible"] and u["label"] in top_level}
    assert shown == {t(f"app.tab.{name}") for name in tabs}
    assert set(visible_tabs(ctx.store.get_user(user))) == tabs


def test_page_load_speaks_the_browser_language_until_the_user_chooses(server, clients):
    ctx, _, demo = server
    first = page_load(demo, "tom", "fr-FR,fr;q=0.9,en;q=0.5")
    assert first[next(c for c in first if getattr(c, "label", None) == t("app.language.label"))][
        "value"] == "fr"
    assert t("app.tab.quiz", "fr") in [u.get("label") for u in first.values() if isinstance(u, dict)]
    clients("tom").predict("es", api_name="/set_language")
    chosen = page_load(demo, "tom", "fr-FR")
    assert t("app.tab.quiz", "es") in [u.get("label") for u in chosen.values() if isinstance(u, dict)]


def test_language_choice_from_user_then_browser():
    assert browser_language("pt-BR,pt;q=0.9,en;q=0.8") == "pt"
    assert browser_language("de-DE,fr;q=0.5,en;q=0.7") == "en"
    assert browser_language("de, ja") is None
    assert pick_language("en", False, "fr-FR,fr;q=0.9") == "fr"
    assert pick_language("en", True, "fr-FR") == "en"
    assert pick_language("es", False, None) == "es"


def test_first_start_creates_demo_users_on_loopback_only(tmp_path):
    import io

    from serve.__main__ import NoUsers, prepare_users
    from serve.records.auth import UnsafeBind
    from serve.context import AppConfig, AppContext

    ctx = AppContext(AppConfig(data_dir=tmp_path / "data", bcrypt_rounds=4))
    with pytest.raises(NoUsers, match="users add admin"):
        prepare_users(ctx, "0.0.0.0")
    assert ctx.store.list_users() == []
    out = io.StringIO()
    created = prepare_users(ctx, "127.0.0.1", out=out)
    assert {(n, r.value) for n, _, r in created} == {
        ("admin", "admin"), ("trainer", "trainer"), ("officer", "officer"), ("trainee", "trainee")}
    for name, pw, _ in created:
        assert pw in out.getvalue() and ctx.authenticate(name, pw)
    assert prepare_users(ctx, "127.0.0.1") == []  # only on an empty user table
    prepare_users(ctx, "0.0.0.0")  # strong random admin password: may listen on the network
    ctx.store.set_password("admin", "password")
    with pytest.raises(UnsafeBind):
        prepare_users(ctx, "0.0.0.0")
    prepare_users(ctx, "127.0.0.1")  # loopback stays allowed


def test_main_delegates_users_and_refuses_an_unsafe_start(tmp_path, capsys):
    from serve.__main__ import main

    assert main(["users", "list", "--db", f"sqlite:///{tmp_path / 'r.db'}"]) == 0
    assert main(["--host", "0.0.0.0", "--data-dir", str(tmp_path / "data")]) == 2
    assert "no user accounts" in capsys.readouterr().err


@pytest.mark.browser
def test_browser_shows_role_tabs_and_switches_language(server):
    """In Chromium: a trainee sees Identify and Quiz only; choosing another language
    re-labels the tabs at once."""
    import shutil

    playwright = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from serve.i18n import LANGUAGE_NAMES

    _, url, _ = server
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(locale="en-US")
            page.goto(url)
            page.fill("input[type=text]", "tess")
            page.fill("input[type=password]", password("tess"))
            page.keyboard.press("Enter")
            tabs = page.get_by_role("tab")
            page.get_by_role("tab", name=t("app.tab.quiz")).wait_for(timeout=30_000)
            shown = {tabs.nth(i).inner_text().strip() for i in range(tabs.count())
                     if tabs.nth(i).is_visible()}
            assert shown == {t("app.tab.identify"), t("app.tab.quiz")}
            page.get_by_label(t("app.language.label")).click()
            page.get_by_role("option", name=LANGUAGE_NAMES["es"]).click()
            page.get_by_role("tab", name=t("app.tab.quiz", "es")).wait_for(timeout=30_000)
            page.get_by_label(t("app.language.label", "es")).click()
            page.get_by_role("option", name=LANGUAGE_NAMES["en"]).click()
            page.get_by_role("tab", name=t("app.tab.quiz")).wait_for(timeout=30_000)
        finally:
            browser.close()


def test_species_sheet_and_lookalike_pairs(photos_root):
    import html as html_lib

    from species_data import PACKAGED_DIR, load_catalogue

    from serve.identify.species_card import card_markdown, checked_text, lookalike_pairs_html, separating_cue

    catalogue = load_catalogue(PACKAGED_DIR)
    entry = catalogue["ivory_carving"]
    md = card_markdown(entry, catalogue, "en")
    assert checked_text(entry, "en") == t("app.card.checked.cop", month="2026-02", cop="20")
    for text in ("Elephant ivory carving", "*Elephantidae spp.*", t("app.card.appendix", "en",
                 appendix="I"), checked_text(entry, "en"), t("app.card.protected_yes"),
                 "Bone carving:", entry.handling_in("en").value[0], entry.sources[0].url,
                 "Botswana, Namibia, South Africa and Zimbabwe", t("app.card.listings")):
        assert text in md, text
    assert t("app.card.in_force", date="2026-03-05") in card_markdown(catalogue["shark"], catalogue, "en")
    assert t("app.card.fallback", "en") not in md
    # French: every text of the sheet in French, with French spacing; nothing said to be English
    fr = card_markdown(entry, catalogue, "fr")
    assert entry.cites.note_in("fr").value.split(" : ")[0] in fr and entry.cites.note not in fr
    assert entry.cites.listings[0].covers_in("fr").value.split(" : ")[0] in fr
    assert "\u202f:" in fr and " :" not in fr and t("app.card.fallback", "fr") not in fr
    # a partial language: the notice that the sheet is partly English comes first, under the name
    ms = card_markdown(entry, catalogue, "ms").split("\n\n")
    assert ms[1] == t("app.card.fallback", "ms")
    photos = sorted((photos_root / "ivory_carving").iterdir())
    examples = {"ivory_carving": photos[0], "bone_carving": sorted((photos_root / "bone_carving").iterdir())[0]}
    officer = photos[1]
    page = lookalike_pairs_html(entry, catalogue, "en", examples.get, officer)
    n = len(entry.lookalikes)
    assert page.count('<figure class="lookalike-pair"') == n  # every look-alike, photo or not
    assert page.count('<img src="data:image/jpeg;base64,') == n + 1  # officer's photo n times + bone's
    assert page.count(f'alt="{t("app.identify.lookalike.yours")}"') == n
    no_photo = t("app.identify.lookalike.no_photo", name=catalogue["mammoth_ivory"].common_name("en"))
    assert html_lib.escape(no_photo) in page and page.count('class="no-photo"') == n - 1
    assert html_lib.escape(entry.lookalike("bone_carving").cue_in("en").value) in page
    # no officer photo (or an unreadable one): the entry's own reference photo is the left side
    for missing in (None, photos_root / "no-such-file.jpg"):
        page = lookalike_pairs_html(entry, catalogue, "en", examples.get, missing)
        assert page.count(f'alt="{entry.common_name("en")}"') == n
    assert lookalike_pairs_html(catalogue["tiger"], catalogue, "en", examples.get, officer) == ""
    assert separating_cue(catalogue, "ivory_carving", "bone_carving", "en") == \
        entry.lookalike("bone_carving").cue_in("en").value
    assert separating_cue(catalogue, "bone_carving", "ivory_carving", "en")  # either side holds it
    assert separating_cue(catalogue, "tiger", "ceramic_ware", "en") is None


def test_the_page_is_served_in_the_users_language(server):
    """The login page in the browser's language; the app page in the signed-in user's own
    choice: <html lang>, title, login message, Gradio's own strings (issue 17 item 4)."""
    import httpx

    from serve.page_language import gradio_translations
    from serve.ui.common import LANGUAGE_AUDIT

    ctx, url, _ = server
    login_page = httpx.get(url, headers={"accept-language": "fr-CH,fr;q=0.9,en;q=0.5"}).text
    assert '<html\n\tlang="fr"' in login_page or '<html lang="fr"' in login_page.replace("\n\t", " ")
    assert f"<title>{t('app.page_title', 'fr')}</title>" in login_page
    assert json.dumps(t("app.login.message", "fr"), ensure_ascii=False) in login_page
    assert json.dumps(t("app.login.message"), ensure_ascii=False) not in login_page
    assert '"i18n_translations":{' in login_page and '"Se connecter"' in login_page
    english = httpx.get(url, headers={"accept-language": "de-DE"}).text  # no supported language
    assert 'lang="en"' in english and f"<title>{t('app.page_title')}</title>" in english

    ctx.store.set_language("tom", "pt")  # tom chose Portuguese; his browser says English
    ctx.store.audit("tom", LANGUAGE_AUDIT, {"language": "pt"})
    with httpx.Client(base_url=url, headers={"accept-language": "en-US"}) as browser:
        assert browser.post("login", data={"username": "tom", "password": password("tom")}).status_code == 200
        page = browser.get("/").text
    assert 'lang="pt-BR"' in page and f"<title>{t('app.page_title', 'pt')}</title>" in page
    assert f'"title":{json.dumps(t("app.page_title", "pt"), ensure_ascii=False)}' in page
    assert "navigator, 'language'" in page  # Gradio's own strings start in Portuguese
    assert gradio_translations()["pt-BR"]["upload_text.drop_file"] == t("gradio.upload_text.drop_file", "pt")
    assert gradio_translations()["fr"]["common.complete"] == "Terminé"  # Gradio itself has no text for it
