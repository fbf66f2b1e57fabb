"""Confirmation closes the loop, end to end on real photos: an officer saves seizure records
of a species the model has never seen, a trainer records the laboratory's result, History
and the cohort report show where the model was wrong, the trainer accepts the photos from
the review queue (through the quality gate), a quick update learns the class, and the
candidate model recognises it on photos it never trained on.

Every step goes through the tabs' own handlers, called as Gradio would call them."""
from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr
import numpy as np
import pytest

from serve.context import AppConfig, AppContext
from serve.records.case_schema import PhotoReview
from serve.ui.case_edit import CaseEditHandlers
from serve.ui.case_review import CaseReviewHandlers
from serve.ui.case_save import CaseSaveHandlers
from serve.ui.cohort import CohortHandlers
from serve.ui.history import HistoryHandlers
from serve.ui.identify import IdentifyHandlers
from serve.ui.trainer_handlers import TrainerHandlers
from species_data.dataset import Split
from tests.trainer_world import NEW_CLASS, build_world, fresh_world

pytestmark = pytest.mark.model
PASSWORD = "a-long-test-password"


@dataclass
class Req:
    username: str | None
    headers: dict = field(default_factory=dict)


def no_progress(*args, **kwargs) -> None:
    return None


@pytest.fixture
def loop(tmp_path, tmp_path_factory):
    world = fresh_world(tmp_path, build_world(tmp_path_factory))
    ctx = AppContext(AppConfig(data_dir=world.data_dir, bcrypt_rounds=4))
    for name, role in (("olga", "officer"), ("tina", "trainer"), ("ida", "analyst")):
        ctx.store.add_user(name, role, PASSWORD)
    return ctx, world, tmp_path


def test_confirmed_case_photos_teach_the_model_a_new_class(loop):
    ctx, world, tmp_path = loop
    olga, tina = Req("olga"), Req("tina")
    identify = IdentifyHandlers(ctx)
    saver = CaseSaveHandlers(ctx, identify.recent)

    # 1. the officer identifies and saves four seizures of five photos each
    photos = list(world.new_photos)
    cases = []
    for i in range(4):
        batch = photos[5 * i:5 * i + 5]
        out = identify.identify([str(p.path) for p in batch], None, request=olga,
                                progress=no_progress)
        shas = [r["sha256"] for r in out["results"]]
        assert len(shas) == 5 and all(r["label"] != NEW_CLASS for r in out["results"])
        _, case = saver.save_case(shas[0], f"AWB-176-{i}", "", "detained", shas,
                                  "2025-05-02", "JKIA", "KE", "export", "air", "KQ 310",
                                  "xray_scanner", "mixed_with_goods", "", "dried fish",
                                  "", 2, "kg", 2.1, "KE", "AE", "HK", request=olga)
        assert case["photos"] == shas and case["country"] == "KE"
        cases.append(case["id"])
    assert ctx.store.review_queue() == []  # nothing waits before a confirmation

    # 2. a trainer records the laboratory's result; officers may not
    edit = CaseEditHandlers(ctx)
    with pytest.raises(gr.Error):
        edit.case_confirm(cases[0], NEW_CLASS, "dna", "2025-05-10", "LAB-7", request=olga)
    for case_id in cases:
        summary = edit.case_confirm(case_id, NEW_CLASS, "dna", "2025-05-10", "LAB-7",
                                    request=tina)
        assert "LAB-7" in summary
    # the base model never saw this class: each case is a wrong answer or no answer (an
    # out-of-catalogue UNKNOWN), depending on how it is calibrated; never a right one
    answered = {c: ctx.store.get_case(c).decision in ("identified", "group") for c in cases}
    opened = edit.case_open(cases[0], request=olga)  # the officer sees the confirmation
    assert "Confirmed" in opened[0]
    assert ("differs" if answered[cases[0]] else "did not give an answer") in opened[0]

    # 3. History marks the disagreements; the cohort report lists the cases to look at first
    _, table, files = HistoryHandlers(ctx).history("", "", "", "", "", None, request=olga)
    differs = {row[0]: row[9] for row in table["value"]["data"]}
    assert len(differs) == 4 and all(differs[c].startswith("⚠️") == answered[c] for c in cases)
    wrong = CohortHandlers(ctx).model_wrong("en")
    assert sorted(r[0] for r in wrong["value"]["data"]) == sorted(c for c in cases if answered[c])

    # 4. the trainer accepts every photo from the review queue, through the quality gate
    trainer = TrainerHandlers(ctx, card_dir=tmp_path / "cards")
    review = CaseReviewHandlers(ctx, trainer.quality_gate)
    with pytest.raises(gr.Error):
        review.review_queue(request=olga)
    _, rows, keys = review.review_queue(request=tina)
    assert len(keys) == 20
    assert rows[0][3] == f"case {cases[0]}, confirmed by tina, method DNA"
    for case_id, sha in keys:
        review.review_accept(case_id, sha, request=tina)
    records = ctx.store.photos_of(NEW_CLASS)
    assert len(records) == 20 and {r.source for r in records} == {f"case {c}" for c in cases}
    assert records[0].credit.startswith("case ") and "method dna" in records[0].credit
    assert all(p.review is PhotoReview.ACCEPTED for c in cases
               for p in ctx.store.get_case(c).photos)
    assert review.review_queue(request=tina)[1] == []

    # 5. the next quick update uses them, and the candidate recognises the new class
    trainer.quick_update(request=tina, progress=no_progress)
    from train.bundle import Bundle

    candidate = Bundle.load(world.models / "v2")
    assert NEW_CLASS in candidate.meta.labels
    assert candidate.meta.training.details["added"] == 20
    held_out = [p for p in photos if p.split is not Split.TRAIN]
    from serve.identify.predictor import Predictor

    predictor = Predictor.load(candidate.path)
    answers = predictor.identify_many([(p.path.name, str(p.path)) for p in held_out])
    top1 = np.mean([a.top[0][0] == NEW_CLASS for a in answers])
    assert len(held_out) >= 4 and top1 > 1 / len(candidate.meta.labels)  # above chance
