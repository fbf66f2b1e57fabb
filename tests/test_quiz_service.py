"""serve.quiz.service: the quiz pool from catalogue + photo folders + the bundle's confusion
matrix; sessions stored with their answers server side; one answer per question, by its
own trainee; Leitner memory persisted and resumed after a restart; certification."""
from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import pytest

from serve.records.auth import PermissionDenied
from serve.context import AppConfig, AppContext
from serve.quiz.engine import Difficulty, QuestionKind, QuizError, SyllabusScope
from serve.quiz.service import QuizService, QuizSettings, public_of
from serve.records.store import AlreadyAnswered, NotFound

CLASSES = ("ivory_carving", "bone_carving", "walrus_ivory_carving", "tiger", "elephant")
PER_CLASS = 3


@pytest.fixture
def photo_dir(tmp_path, photos_root):
    """3 real photos per class, as symlinks (photos are never copied)."""
    root = tmp_path / "photos"
    for cls in CLASSES:
        (root / cls).mkdir(parents=True)
        for src in sorted((photos_root / cls).iterdir())[:PER_CLASS]:
            os.symlink(src, root / cls / src.name)
    return root


def make_ctx(data_dir, photo_dir) -> AppContext:
    ctx = AppContext(AppConfig(data_dir=data_dir, photo_roots=(photo_dir,), bcrypt_rounds=4))
    for name in ("tina", "tom"):
        if ctx.store.get_user(name) is None:
            ctx.store.add_user(name, "trainee", f"pw-{name}-long-enough")
    return ctx


@pytest.fixture
def ctx(data_dir, photo_dir):
    return make_ctx(data_dir, photo_dir)


@pytest.fixture
def service(ctx):
    return QuizService(ctx, rng=random.Random(7))


def class_of_photo(service: QuizService, photo_id: str) -> str:
    return next(c for c, ids in service.pool().photos.items() if photo_id in ids)


def right_answer(service: QuizService, q) -> str:
    """What the trainee would answer if they knew (tests only: looked up from the photo)."""
    cls = class_of_photo(service, q.public["photo_id"])
    assert q.public["kind"] == QuestionKind.IDENTIFY.value
    return cls


def test_pool_holds_catalogue_classes_folder_photos_and_model_confusion(ctx, service):
    pool = service.pool()
    assert set(pool.classes) == set(ctx.catalogue().ids)
    with_photos = {c for c, ids in pool.photos.items() if ids}
    assert with_photos == set(CLASSES)
    assert all(len(pool.photos[c]) == PER_CLASS for c in CLASSES)
    for ids in pool.photos.values():
        for pid in ids:  # opaque content hashes, never a file or class name
            assert re.fullmatch(r"[0-9a-f]{64}", pid)
            assert service.photo_path(pid).exists()
    meta = ctx.predictor().bundle.meta
    matrix, labels = meta.metrics.val.confusion, meta.labels
    i, j = max(((a, b) for a in range(len(labels)) for b in range(len(labels)) if a != b),
               key=lambda ab: matrix[ab[0]][ab[1]])
    if matrix[i][j]:
        assert pool.confusion[(labels[i], labels[j])] == pytest.approx(matrix[i][j] / sum(matrix[i]))
    assert all(0 < r <= 1 for r in pool.confusion.values())


def test_start_stores_questions_with_distinct_photos_and_no_answer_in_public(ctx, service):
    sess = service.start("tina", QuizSettings(length=12))
    assert sess.length == 12 and len(sess.questions) == 12
    photos = [q.public["photo_id"] for q in sess.questions]
    assert len(set(photos)) == len(photos)  # never a photo twice in one session
    kinds = {q.public["kind"] for q in sess.questions}
    assert QuestionKind.IDENTIFY.value in kinds and len(kinds) > 1  # law questions mixed in
    for q in sess.questions:
        assert set(q.public) == {"kind", "photo_id", "choices", "prompt", "names"}
        if q.public["kind"] == "identify":
            assert len(q.public["choices"]) == 4
            assert right_answer(service, q) in q.public["choices"]
            assert q.public["prompt"]["params"] == {}  # the prompt gives nothing away
    stored = ctx.store.get_quiz(sess.id)
    assert json.dumps([q.public for q in stored.questions]).count('"answer"') == 0


def test_a_quiz_longer_than_the_photos_is_shortened_not_repeated(service):
    settings = QuizSettings(length=40, law_questions=False)
    sess = service.start("tina", settings)
    assert sess.length == len(CLASSES) * PER_CLASS
    assert len({q.public["photo_id"] for q in sess.questions}) == sess.length


def test_bad_settings_are_refused(service):
    with pytest.raises(QuizError, match="length 0"):
        service.start("tina", QuizSettings(length=0))
    with pytest.raises(QuizError, match="unknown group"):
        service.start("tina", QuizSettings(SyllabusScope.GROUP, "dragons"))


def test_answers_are_once_by_the_owner_in_their_own_session(ctx, service):
    settings = QuizSettings(length=3, law_questions=False)
    sess = service.start("tina", settings)
    other = service.start("tina", settings)
    q = service.next_open("tina", sess.id)
    good = right_answer(service, q)
    with pytest.raises(QuizError, match="not one of the choices"):
        service.answer("tina", sess.id, q.id, "unicorn")
    with pytest.raises(PermissionDenied):
        service.answer("tom", sess.id, q.id, good)  # another trainee
    with pytest.raises(PermissionDenied):
        service.answer("tina", other.id, q.id, good)  # another session's question
    outcome = service.answer("tina", sess.id, q.id, good)
    assert outcome.answer.correct and outcome.question.answer == good and not outcome.finished
    with pytest.raises(AlreadyAnswered):
        service.answer("tina", sess.id, q.id, good)
    with pytest.raises(NotFound):
        service.answer("tina", 9999, q.id, good)
    state, clock = service.memory("tina")
    assert clock == 1 and state.card(good).box == 2
    assert service.memory("tom") == (type(state)(), 0)


def test_memory_and_session_resume_after_a_restart(data_dir, photo_dir, ctx, service):
    sess = service.start("tina", QuizSettings(length=4, law_questions=False))
    first = service.next_open("tina", sess.id)
    shown = [c for c in first.public["choices"] if c != right_answer(service, first)][0]
    service.answer("tina", sess.id, first.id, shown)  # a wrong answer: a confused pair
    restarted = QuizService(make_ctx(data_dir, photo_dir), rng=random.Random(1))
    assert restarted.latest_open("tina").id == sess.id
    nxt = restarted.next_open("tina", sess.id)
    assert nxt.position == 1 and not nxt.answered
    state, clock = restarted.memory("tina")
    true = right_answer(service, first)
    assert clock == 1 and state.card(true).lapses == 1
    assert (true, shown) in state.pairs
    assert restarted.latest_open("tom") is None


def test_finish_summarises_and_certifies_once_mastered(tmp_path, data_dir, photos_root):
    group = ("ivory_carving", "bone_carving", "walrus_ivory_carving")
    root = tmp_path / "more-photos"
    for cls in CLASSES:  # 9 photos of each ivory class: three quizzes of new photos
        (root / cls).mkdir(parents=True)
        for src in sorted((photos_root / cls).iterdir())[:9 if cls in group else PER_CLASS]:
            os.symlink(src, root / cls / src.name)
    ctx = make_ctx(data_dir, root)
    service = QuizService(ctx, rng=random.Random(7))
    settings = QuizSettings(SyllabusScope.GROUP, "ivory_and_lookalikes", length=9,
                            difficulty=Difficulty.HARD, law_questions=False)
    reports, photos = [], set()
    for round_ in range(3):  # 27 photos, 9 answers per class
        sess = service.start("tina", settings)
        assert sess.length == 9
        while (q := service.next_open("tina", sess.id)) is not None:
            photos.add(q.public["photo_id"])
            choice = right_answer(service, q)
            if round_ == 0 and q.position == 0:
                choice = next(c for c in q.public["choices"] if c != choice)
            service.answer("tina", sess.id, q.id, choice)
        assert ctx.store.get_quiz(sess.id).finished_at is not None  # closed after the last
        reports.append(service.finish("tina", sess.id))
    assert len(photos) == 27  # no photo came twice while new ones were left
    first, _, last = reports
    assert (first.summary.score, first.summary.total) == (8, 9)
    assert first.summary.per_group["ivory_and_lookalikes"].total == 9
    assert len(first.summary.confused_pairs) == 1
    assert not first.certification.passed and first.certificate is None
    assert last.certification.passed
    assert last.certificate is not None and last.certificate.syllabus == "group:ivory_and_lookalikes"
    again = service.finish("tina", last.session.id)
    assert again.certificate.id == last.certificate.id  # not issued twice
    assert len(ctx.store.certificates_of("tina")) == 1
    assert [(r, n) for _, _, r, n in service.progress("tina")] == [(8, 9), (9, 9), (9, 9)]


def test_photos_seen_in_an_earlier_quiz_never_count_towards_a_certificate(service, ctx):
    """Issue 14 item 2: a photo shown before may have been saved and identified since."""
    settings = QuizSettings(SyllabusScope.GROUP, "ivory_and_lookalikes", length=20,
                            difficulty=Difficulty.HARD, law_questions=False)
    shown = []
    for _ in range(4):  # 3 photos x 3 classes: every quiz after the first reuses photos
        sess = service.start("tina", settings)
        assert sess.length == 9
        while (q := service.next_open("tina", sess.id)) is not None:
            shown.append(q.public["photo_id"])
            service.answer("tina", sess.id, q.id, right_answer(service, q))
        report = service.finish("tina", sess.id)
    assert len(set(shown)) == 9 and len(shown) == 36
    assert report.summary.score == 9  # practice on old photos is still graded...
    assert not report.certification.passed  # ...but 3 first-time answers per class are too few
    assert ctx.store.certificates_of("tina") == []


def test_cohort_report(service):
    settings = QuizSettings(SyllabusScope.GROUP, "big_cats", length=2, law_questions=False)
    for trainee, right in (("tina", True), ("tom", False)):
        sess = service.start(trainee, settings)
        while (q := service.next_open(trainee, sess.id)) is not None:
            good = right_answer(service, q)
            wrong = next(c for c in q.public["choices"] if c != good)
            service.answer(trainee, sess.id, q.id, good if right else wrong)
    report = service.cohort(threshold=0.5)
    assert report.per_class == (("tiger", 2, 4),)
    assert sum(n for _, _, n in report.confused) == 2
    assert all(t == "tiger" for t, _, _ in report.confused)
    assert dict((n, (r, k)) for n, r, k in report.trainees) == {"tina": (2, 2), "tom": (0, 2)}
    assert report.below == ("tom",)
    with pytest.raises(ValueError):
        service.cohort(threshold=0)


def test_public_view_of_a_question_has_no_answer(service):
    from serve.quiz.engine import next_question, LeitnerState

    pool = service.pool()
    q = next_question(pool, list(CLASSES), LeitnerState(), 0, random.Random(3))
    public = public_of(q)
    text = json.dumps(public)
    assert "answer" not in public and q.group not in text
    assert f'"{q.class_id}"' not in json.dumps({k: v for k, v in public.items() if k != "choices"})


JUNK_TIGERS = ("tiger_king_tiger_tiger613.jpg", "tiger_king_tiger_tiger33.jpg")  # a gorge, tiger nuts


def test_photos_unlike_their_class_are_not_asked_and_the_example_is_typical(
        tmp_path, data_dir, photos_root):
    """With the model's embedding cache, off-class photos filed under a class (a river gorge
    and tiger nuts under "tiger") are screened out; the example is the most typical photo."""
    from serve.quiz.photos import embedding_cache

    real_cache = Path(__file__).resolve().parents[1] / "data" / "embeddings"
    folder = photos_root / "tiger"
    if not real_cache.is_dir() or not all((folder / n).exists() for n in JUNK_TIGERS):
        pytest.skip("needs data/embeddings and the tiger photos")
    os.symlink(real_cache, data_dir / "embeddings")
    root = tmp_path / "tigers"
    (root / "tiger").mkdir(parents=True)
    good = [p for p in sorted(folder.iterdir()) if p.name not in JUNK_TIGERS][:6]
    for p in good + [folder / n for n in JUNK_TIGERS]:
        os.symlink(p, root / "tiger" / p.name)
    ctx = AppContext(AppConfig(data_dir=data_dir, photo_roots=(root,), bcrypt_rounds=4))
    service = QuizService(ctx)
    if embedding_cache(data_dir, ctx.predictor()) is None:
        pytest.skip("no embedding cache for this bundle's backbone")
    pool = service.pool()
    asked = {service.photo_path(pid).name for pid in pool.photos["tiger"]}
    assert asked.isdisjoint(JUNK_TIGERS)
    assert len(asked) >= 4  # the real tigers stay (at most the odd one out goes)
    assert service.example_photo("tiger").name in asked
    out = service._photos.screened_out["tiger"]
    assert {service.photo_path(pid).name for pid in out} >= set(JUNK_TIGERS)  # still resolvable
