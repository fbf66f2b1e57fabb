"""Every documented trainer endpoint driven through `gradio_client`, with the values a person
picks on the page (issue 14 item 5: the class dropdowns listed single letters in the API
schema, so every call naming a class failed). One server on a private copy of the trainer
world; the tests run in file order, as a trainer would work."""
from __future__ import annotations

import sys

import pytest

from serve.ui.catalogue_form import EntryForm
from tests.helpers import free_port, password
from tests.trainer_world import NEW_CLASS, build_world, fresh_world

pytestmark = pytest.mark.app


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from serve.app import build_app, launch
    from serve.context import AppConfig, AppContext
    from serve.ui import trainer_models

    world = fresh_world(tmp_path_factory.mktemp("trainer-api"), build_world(tmp_path_factory))
    ctx = AppContext(AppConfig(data_dir=world.data_dir, port=free_port(), bcrypt_rounds=4))
    ctx.store.add_user("trev", "trainer", password("trev"))
    ctx.store.add_user("tina", "trainee", password("tina"))
    # A full retrain would fit a real model for minutes: a stand-in job that waits instead.
    real_argv = trainer_models.ModelHandlers._fit_argv
    trainer_models.ModelHandlers._fit_argv = lambda self, version, tree, base: [
        sys.executable, "-c", "import time; time.sleep(600)"]
    demo = build_app(ctx)
    launch(demo, ctx, prevent_thread_lock=True, quiet=True)
    yield ctx, world, f"http://127.0.0.1:{ctx.config.port}/"
    demo.close()
    trainer_models.ModelHandlers._fit_argv = real_argv
    ctx.store.close()


@pytest.fixture(scope="module")
def trev(server):
    from gradio_client import Client

    _, _, url = server
    client = Client(url, auth=("trev", password("trev")), verbose=False)
    yield client
    client.close()


def test_the_schema_offers_whole_class_ids(trev):
    api = trev.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name in ("/trainer_load_entry", "/trainer_upload", "/trainer_review", "/trainer_label_noise"):
        schema = str(api[name]["parameters"])
        assert "'seahorse'" in schema and "'elephant'" in schema, name


FIELDS = EntryForm.field_names()


def rows_of(table) -> list:
    """A table as the API gives it ({"headers", "data"}) -> its rows."""
    return table["data"] if isinstance(table, dict) else list(table or [])


def loaded(trev, entry_id: str) -> tuple[EntryForm, list, str]:
    """(the form, the table of look-alike cues as sent back, the status) from /trainer_load_entry."""
    out = trev.predict(entry_id, api_name="/trainer_load_entry")
    values = list(out[:len(FIELDS)])
    cues = values[FIELDS.index("lookalike_cues")]
    values[FIELDS.index("lookalike_cues")] = rows_of(cues)
    return EntryForm.from_values(values), cues, out[len(FIELDS) + 1]


def test_load_entry(trev):
    form, _, status = loaded(trev, "seahorse")
    assert form.id == "seahorse" and "Seahorse" in form.names_en and "seahorse" in status
    assert form.appendix == "II" and form.kind == "whole_animal"


def test_add_entry(server, trev):
    ctx, _, _ = server
    form, cues, _ = loaded(trev, "seahorse")
    values = [*{**form.__dict__, "cues": form.cues + "\nA cue sent through the API."}.values()]
    values[FIELDS.index("lookalikes")] = list(form.lookalikes)
    values[FIELDS.index("lookalike_cues")] = cues
    message, history, classes, *slots = trev.predict(*values, api_name="/trainer_add_entry")
    assert "seahorse" in message and history["data"][0][1:] == ["trev", "seahorse", "updated"], (message, slots)
    assert "A cue sent through the API." in ctx.catalogue()["seahorse"].cues_in("en").value


def test_upload(server, trev):
    from gradio_client import handle_file

    ctx, world, _ = server
    files = [handle_file(str(p.path)) for p in world.new_photos]
    rows, summary = trev.predict(files, NEW_CLASS, "field trip", "CC0", "", api_name="/trainer_upload")
    n = len(world.new_photos)
    assert f"{n} of {n}" in summary and len(rows["data"]) == n
    assert len(ctx.store.photos_of(NEW_CLASS)) == n


def test_review(server, trev):
    _, world, _ = server
    gallery = trev.predict(NEW_CLASS, api_name="/trainer_review")
    assert len(gallery) == len(world.new_photos) and all("upload" in item["caption"] for item in gallery)


def test_remove_and_restore_photo_by_the_caption_a_person_sees(server, trev):
    ctx, _, _ = server
    caption = trev.predict("elephant", api_name="/trainer_review")[0]["caption"]
    prefix = caption.split(" ")[0]  # the gallery shows the first 10 hex digits of the hash
    status = trev.predict(prefix, "blurred", api_name="/trainer_remove_photo")
    assert prefix in status
    (record,) = [p for p in ctx.store.all_photos(include_removed=True) if p.sha256.startswith(prefix)]
    assert record.removed
    status = trev.predict(prefix, api_name="/trainer_restore_photo")
    assert prefix in status and not ctx.store.get_photo(record.sha256).removed


def test_label_noise(trev):
    rows, gallery, status = trev.predict("elephant", api_name="/trainer_label_noise")
    assert len(rows["data"]) == len(gallery) and str(len(gallery)) in status


def test_quick_update(trev):
    summary, comparison, confusion, candidate = trev.predict(api_name="/trainer_quick_update")
    assert "v2" in summary and NEW_CLASS in comparison and candidate["value"] == "v2"


def test_compare(trev):
    comparison, confusion = trev.predict("v2", api_name="/trainer_compare")
    assert NEW_CLASS in comparison and confusion is not None


def test_versions(trev):
    rows, candidate, rollback_to, classes = trev.predict(api_name="/trainer_versions")
    assert [r[0] for r in rows["data"]][:2] == ["v2", "v1"]


def test_publish(server, trev):
    _, world, _ = server
    status = trev.predict("v2", True, "seahorses through the API", api_name="/trainer_publish")
    assert "v2" in status and (world.models / "current").resolve().name == "v2"


def test_rollback(server, trev):
    _, world, _ = server
    status = trev.predict("v1", "undo", api_name="/trainer_rollback")
    assert "v1" in status and (world.models / "current").resolve().name == "v1"


def test_retrain_status_and_cancel(trev):
    text, *_ = trev.predict(api_name="/trainer_retrain")
    assert "by trev (model v3)" in text
    text, *_ = trev.predict(api_name="/trainer_retrain_status")
    assert "running" in text.lower()
    text, *_ = trev.predict(api_name="/trainer_retrain_cancel")
    assert "cancelled" in text.lower()


def test_a_trainee_is_refused_every_trainer_endpoint(server):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    _, _, url = server
    tina = Client(url, auth=("tina", password("tina")), verbose=False)
    try:
        for args, name in [(("seahorse",), "/trainer_load_entry"), (("elephant",), "/trainer_review"),
                           (("v1",), "/trainer_compare"), ((), "/trainer_versions"),
                           ((), "/trainer_auto_finetune_status"), ((True, 50, True), "/trainer_auto_finetune_settings")]:
            with pytest.raises(AppError):
                tina.predict(*args, api_name=name)
    finally:
        tina.close()

