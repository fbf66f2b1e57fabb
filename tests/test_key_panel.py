"""The key in the Identify tab (serve/ui/key.py): what the officer reads, the handlers with
role checks, starting from a photo's model scores, and saving a case with the key's path."""
from __future__ import annotations

import json
from types import SimpleNamespace

import gradio as gr
import pytest

from species_data import load_catalogue
from species_data.key import Attribute, Form

from serve.i18n import COMPLETE_LANGUAGES, strings, t
from serve.identify.key import Answer, Key
from serve.ui.key import (CANT_TELL, NO_MODEL, KeyPanel, answer_choices, question_markdown,
                          short_list_html, state_dict)


@pytest.fixture(scope="module")
def cat():
    return load_catalogue()


def test_every_question_and_value_has_words_in_every_complete_language():
    for lang in COMPLETE_LANGUAGES:
        words = strings(lang)
        for attribute in Attribute:
            assert f"key.question.{attribute.value}" in words, (lang, attribute)
            for value in attribute.values:
                assert f"key.value.{attribute.value}.{value.value}" in words, (lang, value)


def test_views_of_a_question_and_of_a_short_list(cat):
    key = Key.from_catalogue(cat)
    first = key.state()
    md = question_markdown(first, "fr", used_photo=False)
    assert t("key.no_photo", "fr") in md and t(f"key.question.{first.question.attribute.value}", "fr") in md
    choices = answer_choices(first, "es")
    assert choices[-1] == (t("key.cant_tell", "es"), CANT_TELL)
    assert len(choices) == len(first.question.options) + 1
    done = key.state([Answer(Attribute.FORM, Form.WOOD), Answer(Attribute.COLOUR, None)])
    while not done.finished:  # answer "can't tell" until it stops
        done = key.state([*done.answers, Answer(done.question.attribute, None)])
    page = short_list_html(done, cat, "en")
    assert page.count("<td data-entry=") == len(done.short_list) >= 1
    for entry_id in done.short_list:
        assert cat[entry_id].cues["en"][0][:30].replace("'", "&#x27;") in page
    assert answer_choices(done, "en") == [] and short_list_html(first, cat, "en") == ""
    d = state_dict(done, cat, "pt", used_photo=False)
    assert json.loads(json.dumps(d)) == d and d["finished"] and d["question"] is None
    assert [x["id"] for x in d["short_list"]] == list(done.short_list)
    assert d["path"][0]["text"] == t("key.value.form.wood", "pt")


@pytest.fixture
def panel(data_dir, photos_root):
    from serve.context import AppConfig, AppContext
    from serve.ui.identify import Recent

    ctx = AppContext(AppConfig(data_dir=data_dir, photo_roots=(photos_root,), bcrypt_rounds=4))
    for name, role in (("olga", "officer"), ("tina", "trainee")):
        ctx.store.add_user(name, role, f"pw-{name}-long-enough")
    yield KeyPanel(ctx, Recent())
    ctx.store.close()


def request(name: str):
    return SimpleNamespace(username=name, headers={})


def walk_to_short_list(panel, sha: str, use_photo: bool, target: str):
    """Answer every question as `target` would (its typical value)."""
    entry = panel.ctx.catalogue()[target]
    answers, *_ = panel.start(sha, use_photo, request("olga"))
    for _ in Attribute:
        state = panel.api(sha if use_photo else "", answers, request("olga"))
        if state["finished"]:
            return answers, state
        attribute = Attribute(state["question"]["attribute"])
        value = entry.key.typical(attribute)
        answers, *_ = panel.answer(sha, use_photo, answers, value.value if value else CANT_TELL, request("olga"))
    return answers, panel.api(sha if use_photo else "", answers, request("olga"))


def test_handlers_step_back_and_save_a_case_without_a_photo(panel):
    answers, state = walk_to_short_list(panel, "", False, "red_sanders")
    assert state["finished"] and "red_sanders" in [x["id"] for x in state["short_list"]]
    fewer, md, *_ = panel.back("", False, answers, request("olga"))
    assert len(fewer) == len(answers) - 1 and md
    with pytest.raises(gr.Error):
        panel.answer("", False, fewer, None, request("olga"))  # no answer chosen
    text, case = panel.save("", False, answers, "red_sanders", "AWB-KEY-1", "billets", "detained", request("olga"))
    assert case["label"] == "red_sanders" and case["decision"] == "key"
    assert case["model_version"] == NO_MODEL and case["photos"] == []
    assert case["commodity"] == "red_sanders"  # the key's answer is the seizure's commodity
    saved = case["prediction"]["key"]
    assert saved["answers"] == answers and saved["chosen"] == "red_sanders" and not saved["used_photo"]
    assert str(case["id"]) in text
    # the short list is recomputed on the server: an entry outside it is refused
    with pytest.raises(gr.Error, match=t("key.error.not_in_list")):
        panel.save("", False, answers, "tiger", "", "", "detained", request("olga"))
    with pytest.raises(gr.Error):  # trainees may use the key but not log cases
        panel.save("", False, answers, "red_sanders", "", "", "detained", request("tina"))
    assert panel.api("", [], request("tina"))["question"] is not None
    with pytest.raises(gr.Error):  # a bad answer names itself
        panel.api("", [{"attribute": "form", "value": "timber"}], request("olga"))


def test_key_starts_from_the_photos_scores_and_saves_the_photo(panel, photos_root):
    predictor = panel.ctx.predictor()
    photo = sorted((photos_root / "ivory_carving").iterdir())[3]
    ident = predictor.identify(photo, name=photo.name)
    panel.recent.put("olga", ident, str(photo))
    first = panel.api(ident.sha256, [], request("olga"))
    assert first["used_photo"] and first["remaining_count"] == len(panel.ctx.catalogue())
    weights = {r["id"]: r["weight"] for r in first["remaining"]}
    assert max(weights, key=weights.get) == ident.top[0][0]  # the model's favourite leads
    assert weights["mammoth_ivory"] > 0  # no photos, still in play
    assert not panel.api(ident.sha256, [], request("tina"))["used_photo"]  # not tina's photo
    answers, state = walk_to_short_list(panel, ident.sha256, True, "ivory_carving")
    assert state["used_photo"] and "ivory_carving" in [x["id"] for x in state["short_list"]]
    result = panel.api_save(ident.sha256, answers, "ivory_carving", "AWB-KEY-2", "", "referred", request("olga"))
    case = result["case"]
    assert case["photos"] == [ident.sha256] and case["model_version"] == ident.model_version
    assert case["prediction"]["key"]["used_photo"] and case["prediction"]["label"] == ident.decision.label
    assert panel.ctx.photos.find(ident.sha256) is not None


def test_named_endpoints_through_gradio_client(data_dir, photos_root, monkeypatch):
    """`identify_key` and `save_key_case` as a script would call them; roles checked there too."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from serve.app import build_app, launch
    from serve.context import AppConfig, AppContext
    from tests.helpers import free_port, password

    monkeypatch.setenv("WILDLIFE_BCRYPT_ROUNDS", "4")
    ctx = AppContext(AppConfig(data_dir=data_dir, port=free_port(), photo_roots=(photos_root,)))
    for name, role in (("olga", "officer"), ("tina", "trainee")):
        ctx.store.add_user(name, role, password(name))
    demo = build_app(ctx)
    launch(demo, ctx, prevent_thread_lock=True, quiet=True)
    try:
        url = f"http://127.0.0.1:{ctx.config.port}/"
        olga = Client(url, auth=("olga", password("olga")), verbose=False)
        assert {"/identify_key", "/save_key_case"} <= set(olga.view_api(return_format="dict")["named_endpoints"])
        answers = []
        target = ctx.catalogue()["caviar"]
        for _ in Attribute:
            state = olga.predict("", answers, api_name="/identify_key")
            if state["finished"]:
                break
            attribute = Attribute(state["question"]["attribute"])
            value = target.key.typical(attribute)
            answers.append({"attribute": attribute.value, "value": value.value if value else None})
        assert "caviar" in [x["id"] for x in state["short_list"]]
        out = olga.predict("", answers, "caviar", "AWB-KEY-3", "", "detained", api_name="/save_key_case")
        assert out["case"]["label"] == "caviar" and out["case"]["prediction"]["key"]["answers"] == answers
        tina = Client(url, auth=("tina", password("tina")), verbose=False)
        with pytest.raises(AppError, match="may not save cases"):
            tina.predict("", answers, "caviar", "", "", "detained", api_name="/save_key_case")
        with pytest.raises(AppError, match="timber"):
            olga.predict("", [{"attribute": "form", "value": "timber"}], api_name="/identify_key")
    finally:
        demo.close()
        ctx.store.close()
