"""The trainer's model screens speak to trainers (issue 17 item 6): a quick update says how
long it will take and why (every photo never read on this computer is read once), one
progress bar with the right words, the latest candidate chosen after a reload, no
"not a model bundle ... python -m train fit" when nothing is chosen, a confirmation before
publishing, and a clear warning when a new class has too few test photos to be measured."""
from __future__ import annotations

import html
import re
import shutil

import gradio as gr
import pytest

from serve.i18n import t
from serve.ui.trainer_views import comparison_html, duration
from species_data.dataset import Split
from train.class_cv import MIN_TEST_PHOTOS
from train.update_estimate import FIXED_SECONDS
from tests.test_trainer_tab import FakeRequest, app  # noqa: F401 (the fixture)
from tests.trainer_world import NEW_CLASS

TINA = FakeRequest("tina")


class Bar:
    """Stands in for gr.Progress: every (fraction, words) the handler shows."""

    def __init__(self):
        self.steps = []

    def __call__(self, fraction, desc=None, **kw):
        self.steps.append((fraction, desc))


def test_a_first_update_on_a_fresh_data_folder_says_it_reads_every_photo_and_counts_them(app):  # noqa: F811
    from train.bundle import Bundle
    from train.update_estimate import estimate

    h, ctx, world, _ = app
    shutil.rmtree(world.data_dir / "embeddings")  # a fresh data folder: no photo was ever read here
    base = Bundle.load(world.models / "v1")
    plan = estimate(base, world.data_dir)
    assert plan.to_read == plan.photos > 0 and not plan.measured
    h.upload([str(p.path) for p in world.new_photos], NEW_CLASS, "field trip", "CC0", "", request=TINA)
    bar = Bar()
    summary, html, plot, choice = h.quick_update(request=TINA, progress=bar)
    words = [d for _, d in bar.steps]
    everything = plan.photos + len(world.new_photos)  # the uploads were never read either
    said = re.fullmatch(re.escape(t("trainer.update.plan_read", n="N", total="T", time="X"))
                        .replace("N", r"(\d+)").replace("T", r"(\d+)").replace("X", "(.+)"), words[0])
    assert said and said.groups()[:2] == (str(everything), str(everything))
    assert said.group(3) == duration(plan.seconds + len(world.new_photos) * plan.seconds_per_photo, "en")
    reading = [d for d in words if d.startswith(t("trainer.update.stage.embed"))]
    assert len(reading) >= 2 and "left" in reading[-1]  # photos counted as they are read
    assert words[-4:] == [t(f"trainer.update.stage.{s}") for s in ("fit", "calibrate", "write", "compare")]
    assert t("trainer.update.stage.done") not in words  # never "Done" while the comparison still runs
    assert [f for f, _ in bar.steps] == sorted(f for f, _ in bar.steps)  # one bar, only moving forward
    assert "read for the first time" in summary
    again = estimate(base, world.data_dir)
    assert again.to_read == 0 and again.measured  # read once; the speed measured here is kept
    assert again.fixed_seconds != FIXED_SECONDS  # and what the update spent besides reading


def test_the_latest_candidate_is_chosen_after_a_reload_and_nothing_chosen_is_said_plainly(app):  # noqa: F811
    h, ctx, world, _ = app
    tina, tom = ctx.store.get_user("tina"), ctx.store.get_user("tom")
    assert h.latest_candidate() is None and h.candidate_on_load("en", tina)["value"] is None
    h.upload([str(p.path) for p in world.new_photos], NEW_CLASS, "field trip", "CC0", "", request=TINA)
    h.quick_update(request=TINA, progress=Bar())
    page = h.candidate_on_load("fr", tina)  # what a page (re)load sets
    assert page["value"] == "v2" and page["choices"] == ["v2", "v1"] and page["label"] == t("trainer.ui.candidate",
                                                                                              "fr")
    assert "value" not in h.candidate_on_load("en", tom) and "choices" not in h.candidate_on_load("en", None)
    for call in (lambda: h.publish("", False, "", request=TINA), lambda: h.compare(None, request=TINA),
                 lambda: h.publish_check("", False, "", request=TINA)):
        with pytest.raises(gr.Error) as err:  # nothing chosen: no server path, no CLI
            call()
        assert err.value.message == t("trainer.error.no_version")
    h.publish("v2", True, "new class", request=TINA)
    assert h.latest_candidate() is None  # the published model, or an older one (a rollback), is no candidate


def test_the_next_update_is_estimated_when_the_page_opens(app):  # noqa: F811
    h, ctx, world, _ = app
    tina = ctx.store.get_user("tina")
    assert h.plan_on_load("en", tina)["value"].startswith("Quick update: every photo has been read")
    assert h.plan_on_load("en", ctx.store.get_user("tom"))["value"] == ""
    h.upload([str(p.path) for p in world.new_photos], NEW_CLASS, "field trip", "CC0", "", request=TINA)
    said = h.plan_on_load("pt", tina)["value"]
    assert said.startswith(f"Atualização rápida: {len(world.new_photos)} de ")


def test_publishing_asks_first(app):  # noqa: F811
    h, ctx, world, _ = app
    h.upload([str(p.path) for p in world.new_photos], NEW_CLASS, "field trip", "CC0", "", request=TINA)
    h.quick_update(request=TINA, progress=Bar())
    box, text = h.publish_check("v2", False, "", request=TINA)
    assert box["visible"] is True and "v2" in text and "v1" in text
    assert (world.models / "current").resolve().name == "v1"  # asking publishes nothing
    assert ctx.store.audit_log(action="trainer_publish") == []
    with pytest.raises(gr.Error):
        h.publish_check("v2", False, "", request=FakeRequest("tom"))


def test_the_page_asks_before_publishing_and_draws_one_progress_bar(app):  # noqa: F811
    from serve.ui.common import Texts
    from serve.ui.trainer import build_trainer_tab

    _, ctx, _, tmp_path = app
    with gr.Blocks() as demo:
        h = build_trainer_tab(ctx, Texts(), card_dir=tmp_path / "cards")
    config = demo.get_config_file()
    deps = {d.get("api_name"): d for d in config["dependencies"]}
    assert len(deps["trainer_quick_update"]["show_progress_on"]) == 1
    publish_button = deps["trainer_publish"]["targets"][0][0]
    labels = {c["id"]: c["props"].get("value") for c in config["components"]}
    assert labels[publish_button] == t("trainer.ui.publish_yes")  # publishing is the confirmation's button


def comparison(n_new: int, *, worse: bool = False, kfold_photos: int | None = None):
    """A comparison as `train.compare` types it: a known class, and a new one tested on `n_new` photos."""
    from train.compare import ClassChange, Comparison, Regression, RegressionKind

    old = ClassChange("elephant", 40, 0.9, 0.8 if worse else 0.92, is_new=False, worse=worse)
    from train.class_cv import ClassRecall

    kfold = (ClassRecall("spiny_seahorse", kfold_photos, kfold_photos - 1, 5, 1 - 1 / kfold_photos, 0.5, 0.99)
             if kfold_photos else None)  # every photo of the new class tested once (train.class_cv)
    new = ClassChange("spiny_seahorse", n_new, None, 1.0 if n_new else None, is_new=True, worse=False, kfold=kfold)
    regressions = (Regression(RegressionKind.CLASS_RECALL, "elephant", 0.9, 0.8),) if worse else ()
    return Comparison("v2", "v1", "test", 0.02, True, (old, new), 0.9, old.after, 0.92, 40, 40 + n_new, 0.05,
                      0.04, regressions, ("elephant", "spiny_seahorse"), ((40, 0), (0, n_new)), {}, ())


def test_a_new_class_tested_on_too_few_photos_is_never_called_publishable():
    page = comparison_html(comparison(1), "en")
    assert t("trainer.compare.ok") not in page and t("trainer.compare.ok_but_new") in page
    assert 'class="thin-class"' in page and "Class spiny_seahorse was tested on 1 photo only" in page
    nobody = html.unescape(comparison_html(comparison(0), "fr"))
    assert "La classe spiny_seahorse n'a aucune photo de test" in nobody and t("trainer.compare.ok", "fr") not in nobody
    measured = comparison_html(comparison(MIN_TEST_PHOTOS), "en")
    assert t("trainer.compare.ok") in measured and 'class="thin-class"' not in measured
    both = comparison_html(comparison(3, worse=True), "es")  # a regression and a thin class: both said
    assert 'class="thin-class"' in both and "La clase spiny_seahorse se probó con solo 3 fotos" in both
    assert t("trainer.compare.ok_but_new", "es") not in both
    by_kfold = comparison_html(comparison(1, kfold_photos=20), "en")  # 1 test photo, but 20 tested by k-fold
    assert t("trainer.compare.ok") in by_kfold and 'class="thin-class"' not in by_kfold and "20 photos" in by_kfold
    too_few = comparison_html(comparison(1, kfold_photos=6), "en")  # k-fold over 6 photos is still too few
    assert 'class="thin-class"' in too_few and "Class spiny_seahorse was tested on 6 photos only" in too_few


def test_the_trainer_sees_the_warning_after_adding_a_class_and_before_publishing(app):  # noqa: F811
    h, ctx, world, _ = app
    held = [p for p in world.new_photos if p.split is not Split.TRAIN][:2]
    few = held + [p for p in world.new_photos if p.split is Split.TRAIN][:4]  # even k-fold over them is too few
    h.upload([str(p.path) for p in few], NEW_CLASS, "field trip", "CC0", "", request=TINA)
    _, page, _, _ = h.quick_update(request=TINA, progress=Bar())
    tested = next(ch.tested_on for ch in compare_of(world, "v2").classes if ch.label == NEW_CLASS)
    assert 0 < tested < MIN_TEST_PHOTOS
    assert 'class="thin-class"' in page and f"Class {NEW_CLASS} was tested on {tested} photo" in page
    assert t("trainer.compare.ok") not in page
    _, asked = h.publish_check("v2", False, "", request=TINA)
    assert f"Class {NEW_CLASS} was tested on {tested} photo" in asked  # said again when publishing


def compare_of(world, version: str):
    from train.bundle import Bundle
    from train.compare import compare

    return compare(Bundle.load(world.models / version), Bundle.load(world.models / "v1"), world.data_dir)


def test_durations_are_rounded_honestly():
    assert duration(4.4, "en") == "about 4 s" and duration(42, "en") == "about 40 s"
    assert duration(128, "en") == "about 2 min" and duration(60 * 7.4, "fr") == "environ 7 min"
