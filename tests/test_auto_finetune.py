"""The background fine-tune (train.auto_finetune, serve.auto_finetune): started when enough
photos are new, and its model published only when the protocol says it won."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

import pytest

from serve.auto_finetune import WHO, AutoFinetune
from serve.context import AppConfig, AppContext
from train.auto_finetune import (MIN_NEW_PHOTOS, Settings, State, Verdict, due, load_settings, load_state,
                                 new_photos, save_settings, save_state)
from train.jobs import JobManager

PASSWORD = "a-long-test-password"


# --- the rules, pure --------------------------------------------------------------------

def test_settings_refuse_a_threshold_that_would_retrain_on_noise(tmp_path):
    with pytest.raises(ValueError, match=f"at least {MIN_NEW_PHOTOS}"):
        Settings(new_photos=3)
    with pytest.raises(ValueError):
        Settings(new_photos=True)  # a bool is not a count
    save_settings(tmp_path, Settings(enabled=False, new_photos=50, auto_publish=False))
    assert load_settings(tmp_path) == Settings(False, 50, False)
    (tmp_path / "auto_finetune.json").write_text("{not json")
    assert load_settings(tmp_path) == Settings()  # a damaged file never stops the app


def test_a_run_is_due_only_when_on_idle_and_enough_photos_are_new(tmp_path):
    state = load_state(tmp_path, baseline=["a", "b"])  # first time: the published model's photos
    assert state.last_photos == ["a", "b"]
    current = ["a", "b"] + [f"n{i}" for i in range(12)]
    assert new_photos(current, state) == 12
    assert due(Settings(new_photos=10), current, state, busy=False)
    assert not due(Settings(new_photos=20), current, state, busy=False)
    assert not due(Settings(new_photos=10), current, state, busy=True)
    assert not due(Settings(enabled=False, new_photos=10), current, state, busy=False)
    save_state(tmp_path, State(last_photos=current, last_job="j1", last_version="v2"))
    again = load_state(tmp_path, baseline=["ignored"])
    assert new_photos(current, again) == 0 and again.last_job == "j1"


@pytest.mark.parametrize("adopted, auto, publish", [(True, True, True), (True, False, False), (False, True, False),
                                                    (False, False, False)])
def test_only_a_winner_is_published_and_only_when_allowed(adopted, auto, publish):
    from types import SimpleNamespace

    from train.bundle_meta import ProtocolVerdict

    verdict = Verdict.of(SimpleNamespace(protocol=ProtocolVerdict("head", adopted, "r")))
    assert verdict.publish(Settings(auto_publish=auto)) is publish
    assert not Verdict.of(SimpleNamespace(protocol=None)).publish(Settings())  # no verdict: never published


# --- in the app, with real bundles and jobs ----------------------------------------------

@dataclass
class FakeRequest:
    username: str | None
    headers: dict = field(default_factory=dict)


def fake_partial_fit(adopted: bool):
    """Stands in for `python -m train fit --mode partial`: copies the published bundle to the
    new version and gives it the protocol verdict `adopted`."""
    def command(version, tree, base):
        code = (
            "import json, pathlib, shutil\n"
            f"src = pathlib.Path({str(base.path)!r}); dst = src.parent / {version!r}\n"
            "shutil.copytree(src, dst)\n"
            "meta = json.loads((dst / 'bundle.json').read_text())\n"
            f"meta['version'] = {version!r}\n"
            f"meta['metrics']['protocol'] = {{'against': 'head', 'adopted': {adopted}, 'reason': 'fake verdict'}}\n"
            "(dst / 'bundle.json').write_text(json.dumps(meta))\n")
        return [sys.executable, "-c", code]
    return command


@pytest.fixture
def app(tmp_path, tmp_path_factory):
    from tests.trainer_world import build_world, fresh_world

    world = fresh_world(tmp_path, build_world(tmp_path_factory))
    ctx = AppContext(AppConfig(data_dir=world.data_dir, bcrypt_rounds=4))
    ctx.store.add_user("tina", "trainer", PASSWORD)
    ctx.store.add_user("ada", "admin", PASSWORD)
    ctx.store.add_user("tom", "trainee", PASSWORD)
    return ctx, world, tmp_path


def _run(auto: AutoFinetune, ctx) -> str | None:
    job = auto.run_now("tina")
    JobManager(ctx.config.data_dir / "jobs").wait(job.id, timeout_s=120)
    return auto.check()


def test_a_winner_is_published_audited_and_acted_on_once(app):
    ctx, world, tmp = app
    auto = AutoFinetune(ctx, tmp / "cards", fake_partial_fit(adopted=True))
    assert _run(auto, ctx) == "published"
    assert (world.models / "current").resolve().name == "v2"
    assert (tmp / "cards" / "v2.md").exists()
    actions = [e.action for e in ctx.store.audit_log()]
    assert actions[:2] == ["auto_finetune_publish", "auto_finetune_start"]
    published = ctx.store.audit_log(action="auto_finetune_publish")[0]
    assert published.who == WHO and published.detail["previous"] == "v1" and published.detail["adopted"]
    assert auto.check() is None  # the finished job is acted on once
    assert "published" in auto.status().last_verdict


def test_a_loser_stays_a_candidate(app):
    ctx, world, tmp = app
    auto = AutoFinetune(ctx, tmp / "cards", fake_partial_fit(adopted=False))
    assert _run(auto, ctx) == "kept"
    assert (world.models / "current").resolve().name == "v1" and (world.models / "v2" / "bundle.json").exists()
    kept = ctx.store.audit_log(action="auto_finetune_kept")[0]
    assert kept.detail["reason"] == "fake verdict" and not kept.detail["adopted"]


def test_with_automatic_publishing_off_even_a_winner_waits_for_a_trainer(app):
    ctx, world, tmp = app
    auto = AutoFinetune(ctx, tmp / "cards", fake_partial_fit(adopted=True))
    auto.save_settings(Settings(auto_publish=False), "ada")
    assert _run(auto, ctx) == "kept"
    assert (world.models / "current").resolve().name == "v1"
    assert "automatic publishing is off" in ctx.store.audit_log(action="auto_finetune_kept")[0].detail["reason"]


def test_uploads_start_a_run_once_enough_photos_are_new(app):
    """Through the Trainer tab: settings saved and photos uploaded by a trainer."""
    import gradio as gr

    from serve.ui.trainer_handlers import TrainerHandlers

    ctx, world, tmp = app
    h = TrainerHandlers(ctx, card_dir=tmp / "cards", auto_command=fake_partial_fit(adopted=True))
    for name, args in (("auto_save", (True, 12, True)), ("auto_status", ()), ("auto_run_now", ())):
        with pytest.raises(gr.Error):  # refused at the server for a trainee
            getattr(h, name)(*args, request=FakeRequest("tom"))
    with pytest.raises(gr.Error):
        h.auto_save(True, 3, True, request=FakeRequest("tina"))  # too few photos per run
    h.auto_save(True, 12, True, request=FakeRequest("tina"))
    assert ctx.store.audit_log(action="auto_finetune_settings")[0].who == "tina"
    photos = [str(p.path) for p in world.new_photos]
    h.upload(photos[:6], world.new_photos[0].label, "test", "CC0", "", request=FakeRequest("tina"))
    jobs = JobManager(ctx.config.data_dir / "jobs")
    assert jobs.status() is None  # 6 new photos: not yet
    h.upload(photos[6:14], world.new_photos[0].label, "test", "CC0", "", request=FakeRequest("tina"))
    job = jobs.status()
    assert job is not None and job.kind == "auto_finetune" and job.out == "v2"
    jobs.wait(job.id, timeout_s=120)
    assert h.auto.check() == "published"
    enabled, threshold, publish, text = h.auto_status(request=FakeRequest("tina"))
    assert (enabled, threshold, publish) == (True, 12, True) and "0" in text
