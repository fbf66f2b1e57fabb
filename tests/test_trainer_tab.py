"""The trainer tab's handlers, called directly with a fake request: refused for everyone but
trainers (at the server, whatever the page shows), audited, and doing what they say."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import pytest

from serve.i18n import t

from serve.context import AppConfig, AppContext
from serve.ui.trainer_handlers import TrainerHandlers
from tests.trainer_world import NEW_CLASS, build_world, fresh_world

PASSWORD = "a-long-test-password"


@dataclass
class FakeRequest:
    username: str | None
    headers: dict = field(default_factory=dict)


@dataclass
class FakeSelect:
    index: int = 0
    row_value: list = field(default_factory=lambda: ["tiger", "lion", "0.1", "0.8", "0.2", "x", "f" * 64])


@pytest.fixture
def app(tmp_path, tmp_path_factory):
    world = fresh_world(tmp_path, build_world(tmp_path_factory))
    ctx = AppContext(AppConfig(data_dir=world.data_dir, bcrypt_rounds=4))
    for name, role in (("tina", "trainer"), ("tom", "trainee"), ("olga", "officer"), ("ada", "admin")):
        ctx.store.add_user(name, role, PASSWORD)
    jobs_gate = tmp_path / "release-job"
    wait = f"import pathlib, time\nwhile not pathlib.Path({str(jobs_gate)!r}).exists(): time.sleep(0.05)"
    fake_fit = lambda version, tree: [sys.executable, "-c", wait]  # noqa: E731 - stands in for `train fit`
    h = TrainerHandlers(ctx, card_dir=tmp_path / "cards", retrain_command=fake_fit)
    return h, ctx, world, tmp_path


def calls(h: TrainerHandlers, photo: Path) -> dict:
    """Every handler with plausible arguments (the request is added by the caller)."""
    return {
        "upload": ([str(photo)], NEW_CLASS, "src", "CC0", ""),
        "review": (NEW_CLASS,),
        "select_photo": (["a" * 64], FakeSelect()),
        "select_flag": (FakeSelect(),),
        "remove_photo": ("a" * 64, "wrong"),
        "restore_photo": ("a" * 64,),
        "label_noise": ("",),
        "quick_update": (),
        "compare": ("v1",),
        "versions": (),
        "publish": ("v1", True, "because"),
        "rollback": ("v1", ""),
        "retrain_start": (),
        "retrain_cancel": (),
        "retrain_status": (),
    }


@pytest.mark.parametrize("who", ["tom", "olga", None, "nobody"])
def test_every_trainer_handler_refuses_non_trainers(app, who):
    h, ctx, world, _ = app
    photo = world.new_photos[0].path
    for name, args in calls(h, photo).items():
        with pytest.raises(gr.Error):
            getattr(h, name)(*args, request=FakeRequest(who))
    assert ctx.store.all_photos(include_removed=True) == []
    assert ctx.store.audit_log() == []
    assert (world.models / "current").resolve().name == "v1"
    assert not (world.models / "v2").exists() and not (world.data_dir / "catalogue").exists()


def test_a_refusal_names_what_is_missing(app):
    h, *_ = app
    with pytest.raises(gr.Error, match="publish or roll back"):
        h.publish("v1", True, "x", request=FakeRequest("tom"))


def test_the_tab_builds_with_named_api_endpoints(app):
    from serve.ui.trainer import build_trainer_tab
    from serve.ui.common import Texts

    _, ctx, _, tmp_path = app
    with gr.Blocks() as demo:
        build_trainer_tab(ctx, Texts(), card_dir=tmp_path / "cards")
    names = {d.get("api_name") for d in demo.get_config_file()["dependencies"]}
    assert {"trainer_add_entry", "trainer_upload", "trainer_quick_update", "trainer_publish", "trainer_rollback",
            "trainer_retrain", "trainer_compare", "trainer_remove_photo", "trainer_label_noise",
            "trainer_auto_finetune_settings", "trainer_auto_finetune_status", "trainer_auto_finetune_run"} <= names


def test_upload_gates_each_file_and_stores_the_accepted_with_provenance(app, tmp_path):
    h, ctx, world, _ = app
    trainer = FakeRequest("tina")
    base_row = next(r for r in _manifest(world) if r["label"] == "elephant")
    dup = tmp_path / "elephant-as-seahorse.jpg"
    dup.write_bytes(Path(base_row["path"]).read_bytes())
    junk = tmp_path / "notes.jpg"
    junk.write_text("not a photo")
    files = [str(p.path) for p in world.new_photos[:5]] + [str(dup), str(junk)]
    with pytest.raises(gr.Error, match="source and licence"):
        h.upload(files, NEW_CLASS, "", "", "", request=trainer)
    with pytest.raises(gr.Error, match="no catalogue entry"):
        h.upload(files, "unicorn", "src", "CC0", "", request=trainer)
    table, summary = h.upload(files, NEW_CLASS, "field trip", "CC-BY-4.0", "A. Person", request=trainer)
    verdict = {row[0]: row for row in table["data"]}
    assert "5 of 7" in summary
    assert "elephant" in verdict[dup.name][2] and verdict[dup.name][1] == "no"
    assert verdict[junk.name][1] == "no"
    stored = ctx.store.photos_of(NEW_CLASS)
    assert len(stored) == 5 and {p.licence for p in stored} == {"CC-BY-4.0"} and stored[0].uploader == "tina"
    assert all(ctx.photos.exists(p.sha256) for p in stored)
    again, _ = h.upload(files[:1], NEW_CLASS, "field trip", "CC-BY-4.0", "", request=trainer)
    assert again["data"][0][1] == "no"  # already in the class
    entry = ctx.store.audit_log(action="trainer_upload")[-1]
    assert entry.who == "tina" and len(entry.detail["accepted"]) == 5


def test_quick_update_publish_override_and_rollback(app, monkeypatch):
    h, ctx, world, tmp_path = app
    trainer = FakeRequest("tina")
    h.upload([str(p.path) for p in world.new_photos], NEW_CLASS, "field trip", "CC0", "", request=trainer)
    summary, html, plot, choice = h.quick_update(request=trainer)
    assert "v2" in summary and NEW_CLASS in html and choice["value"] == "v2"
    assert plot is not None and plot.size[0] > 100  # the candidate's confusion matrix
    table, *_ = h.versions(request=trainer)
    assert [r[0] for r in table["data"]][:2] == ["v2", "v1"]

    import train.compare as compare_module

    real = compare_module.compare

    def worse(*args, **kwargs):  # the candidate loses a class: publishing needs an override
        c = real(*args, **kwargs)
        regression = compare_module.Regression(compare_module.RegressionKind.CLASS_RECALL, "elephant", 1.0, 0.5)
        return compare_module.Comparison(**{**c.__dict__, "regressions": (regression,)})

    monkeypatch.setattr(compare_module, "compare", worse)
    with pytest.raises(gr.Error, match="override"):
        h.publish("v2", False, "", request=trainer)
    with pytest.raises(gr.Error, match="override"):
        h.publish("v2", True, "   ", request=trainer)
    assert (world.models / "current").resolve().name == "v1"
    h.publish("v2", True, "seahorses matter more this month", request=trainer)
    assert (world.models / "current").resolve().name == "v2"
    assert (tmp_path / "cards" / "v2.md").is_file()
    published = ctx.store.audit_log(action="trainer_publish")[0]
    assert published.detail["overridden"] and published.detail["reason"].startswith("seahorses")
    monkeypatch.setattr(compare_module, "compare", real)

    with pytest.raises(gr.Error):
        h.rollback("v2", "", request=trainer)  # already published
    h.rollback("v1", "undo", request=FakeRequest("ada"))
    assert (world.models / "current").resolve().name == "v1"
    assert ctx.store.audit_log(action="trainer_rollback")[0].who == "ada"


def test_removing_a_model_photo_leaves_it_out_of_the_next_update(app):
    h, ctx, world, _ = app
    trainer = FakeRequest("tina")
    gallery, shas = h.review("elephant", request=trainer)
    assert len(gallery) == len(shas) > 0
    sha = shas[0]
    assert h.select_photo(shas, FakeSelect(index=0), request=trainer) == sha
    with pytest.raises(gr.Error, match="reason"):
        h.remove_photo(sha, "", request=trainer)
    h.remove_photo(sha, "a rhino, not an elephant", request=trainer)
    assert ctx.store.get_photo(sha).removed
    _, after = h.review("elephant", request=trainer)
    assert sha not in after
    h.quick_update(request=trainer)
    from train.bundle import Bundle

    assert sha not in {r["sha256"] for r in Bundle.load(world.models / "v2").manifest()}
    h.restore_photo(sha, request=trainer)
    assert not ctx.store.get_photo(sha).removed


def test_label_noise_lists_photos_to_review(app):
    h, _, _, _ = app
    table, gallery, status = h.label_noise("", request=FakeRequest("tina"))
    rows = table["data"]
    assert isinstance(rows, list) and all(len(r) == 7 for r in rows) and str(len(rows)) in status


def test_full_retrain_runs_one_job_at_a_time_and_can_be_cancelled(app):
    h, ctx, _, _ = app
    trainer = FakeRequest("tina")
    text, _, timer = h.retrain_start(request=trainer)
    assert "v2" in text
    with pytest.raises(gr.Error, match="still running"):
        h.retrain_start(request=trainer)
    status, _, timer = h.retrain_status(request=trainer)
    assert "running" in status
    status, _, _ = h.retrain_cancel(request=trainer)
    assert "cancelled" in status
    assert [e.action for e in ctx.store.audit_log(who="tina")][:2] == ["trainer_retrain_cancel",
                                                                        "trainer_retrain_start"]


def _manifest(world):
    from train.bundle import Bundle

    return Bundle.load(world.models / "v1").manifest()
