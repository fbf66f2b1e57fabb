"""Glue between the pure quiz logic (`serve.quiz.engine`) and the app's data.

    service = QuizService(ctx)
    session = service.start("tina", QuizSettings(length=10))     # questions stored in the DB
    current = service.next_open("tina", session.id)               # first unanswered question
    outcome = service.answer("tina", session.id, current.id, "tiger")
    report = service.finish("tina", session.id)                   # summary + certification

Builds the `QuizPool` from the catalogue (every entry is a class; distractors may be
classes without photos), the photo folders (`config.photo_roots`, <class_id>/<image>)
plus the photo store, and the published model's validation confusion matrix.

Folder photos unlike their class are screened out and each class gets a typical example
photo (see `serve.quiz.photos`).

Photo ids are the SHA-256 of the photo bytes: stable across restarts (a resumed quiz
finds its photos again) and opaque (they do not name the species). Every question of a
session is drawn when the session starts, each photo at most once, and written to the
database with its answer; the browser only ever gets the `public` part. Answers are
graded by the store (server side, once, by the session's own trainee); each answer
updates the trainee's Leitner state (memory key `leitner`) in the same call.
"""
from __future__ import annotations

import json
import random
import secrets
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from species_data import Kind

from serve.records.auth import PermissionDenied
from serve.i18n import Message
from serve.quiz.engine import (Answer, CertificationResult, Difficulty, LeitnerState, NameStyle,
                   PoolExhausted, Question, QuestionKind, QuizClass, QuizError, QuizPool,
                   QuizSummary, Syllabus, SyllabusScope, certification_check, grade,
                   next_question, record, summarise)
from serve.quiz.photos import QuizPhotos, confusion_rates, scan_photos
from serve.records.checks import check_id
from serve.records.store import Certificate, NotFound, QuizAnswer, QuizQuestion, QuizQuestionSpec, QuizSession

MEMORY_KEY = "leitner"
MIN_LENGTH, MAX_LENGTH = 1, 100
# How often each kind is drawn: mostly "what is this?", plus the law questions.
KIND_MIX = (QuestionKind.IDENTIFY,) * 6 + (
    QuestionKind.APPENDIX, QuestionKind.PROTECTED, QuestionKind.NEXT_STEP)
CERT_THRESHOLD, CERT_LAST_N = 0.85, 8


@dataclass(frozen=True)
class QuizSettings:
    scope: SyllabusScope = SyllabusScope.ALL
    group: str | None = None
    length: int = 10
    difficulty: Difficulty = Difficulty.MEDIUM
    law_questions: bool = True  # mix in APPENDIX / PROTECTED / NEXT_STEP questions
    names: NameStyle = NameStyle.COMMON

    @property
    def syllabus(self) -> Syllabus:
        return Syllabus(self.scope, self.group if self.scope is SyllabusScope.GROUP else None)

    @property
    def syllabus_name(self) -> str:
        """'all', 'appendix_i', 'products' or 'group:<id>' (certificates are per syllabus)."""
        return f"group:{self.group}" if self.scope is SyllabusScope.GROUP else self.scope.value

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope.value, "group": self.group, "length": self.length,
                "difficulty": self.difficulty.value, "law_questions": self.law_questions,
                "names": self.names.value, "name": self.syllabus_name}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "QuizSettings":
        return cls(SyllabusScope(d["scope"]), d.get("group"), int(d["length"]),
                   Difficulty(d["difficulty"]), bool(d["law_questions"]), NameStyle(d["names"]))


@dataclass(frozen=True)
class Outcome:
    """The result of one answer, for the feedback screen."""

    question: Question  # now answered: the answer may be shown
    answer: Answer
    finished: bool  # that was the last question of the session


@dataclass(frozen=True)
class Report:
    session: QuizSession
    summary: QuizSummary
    certification: CertificationResult | None  # None when the syllabus has no class
    certificate: Certificate | None  # issued now or earlier for this syllabus


@dataclass(frozen=True)
class CohortReport:
    per_class: tuple[tuple[str, int, int], ...]  # (class id, right, answers), weakest first
    confused: tuple[tuple[str, str, int], ...]  # (true, chosen, times), most frequent first
    trainees: tuple[tuple[str, int, int], ...]  # (trainee, right, answers) over recent answers
    below: tuple[str, ...]  # trainees whose recent accuracy is under the threshold
    threshold: float


def public_of(q: Question) -> dict[str, Any]:
    """What the database keeps visible for a question (no answer, class or group)."""
    v = q.public_view()
    return {"kind": v.kind.value, "photo_id": v.photo_id, "choices": list(v.choices),
            "prompt": {"key": v.prompt.key, "params": dict(v.prompt.params)},
            "names": v.names.value}


def prompt_of(public: Mapping[str, Any]) -> Message:
    p = public["prompt"]
    return Message(p["key"], dict(p.get("params") or {}))


def certifiable(sessions: list[QuizSession], answers: list[QuizAnswer]) -> list[QuizAnswer]:
    """The answers that may count towards a certificate: those given on the first quiz that
    showed their photo (a photo seen before may have been saved and identified since)."""
    first: dict[str, int] = {}
    photo_of: dict[int, str] = {}
    for sess in sorted(sessions, key=lambda x: x.id):
        for q in sess.questions:
            photo = q.public.get("photo_id")
            photo_of[q.id] = photo
            first.setdefault(photo, sess.id)
    return [a for a in answers if first.get(photo_of.get(a.question_id)) == a.session_id]


class QuizService:
    def __init__(self, ctx, rng: random.Random | None = None) -> None:
        self.ctx = ctx
        self._rng = rng
        self._lock = threading.Lock()
        self._trainee_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._pool: QuizPool | None = None
        self._pool_key: tuple | None = None
        self._photos = QuizPhotos()

    # --- pool -------------------------------------------------------------------------

    def _model(self):
        try:
            return self.ctx.predictor()
        except FileNotFoundError:
            return None

    def pool(self) -> QuizPool:
        """The quiz pool, rebuilt when the catalogue, model or stored photos change."""
        catalogue = self.ctx.catalogue()
        model = self._model()
        stored = self.ctx.store.all_photos()
        key = (catalogue.version, getattr(model, "version", None),
               getattr(getattr(model, "bundle", None), "path", None), len(stored))
        with self._lock:
            if self._pool is None or self._pool_key != key:
                photos = scan_photos(self.ctx.config.photo_roots, catalogue, model, stored,
                                     self.ctx.photos, self.ctx.config.data_dir)
                classes = [QuizClass(e.id, e.group, e.appendix, e.kind,
                                     e.lookalike_ids, product=e.kind is Kind.PART_OR_PRODUCT)
                           for e in catalogue]
                self._pool = QuizPool.build(classes, photos.by_class, confusion_rates(model))
                self._photos, self._pool_key = photos, key
            return self._pool

    def photo_path(self, photo_id: str) -> Path:
        self.pool()
        path = self._photos.paths.get(photo_id)
        if path is None:
            raise NotFound(f"no quiz photo {photo_id!r}; start a new quiz")
        return path

    def example_photo(self, class_id: str) -> Path | None:
        """A reference photo of the class (its most typical one when known), if any."""
        ids = self.pool().photos.get(class_id, ())
        best = self._photos.typical.get(class_id) or (ids[0] if ids else None)
        return self._photos.paths.get(best) if best else None

    # --- memory -----------------------------------------------------------------------

    def memory(self, trainee: str) -> tuple[LeitnerState, int]:
        raw = self.ctx.store.get_memory(trainee, MEMORY_KEY)
        if raw is None:
            return LeitnerState(), 0
        data = json.loads(raw)
        return LeitnerState.from_dict(data["state"]), int(data["clock"])

    def _put_memory(self, trainee: str, state: LeitnerState, clock: int) -> None:
        self.ctx.store.put_memory(trainee, MEMORY_KEY,
                                  json.dumps({"clock": clock, "state": state.to_dict()}))

    # --- sessions ---------------------------------------------------------------------

    def start(self, trainee: str, settings: QuizSettings) -> QuizSession:
        if not MIN_LENGTH <= settings.length <= MAX_LENGTH:
            raise QuizError(f"quiz length {settings.length} is outside "
                            f"{MIN_LENGTH}..{MAX_LENGTH}; choose another length")
        pool = self.pool()
        if settings.scope is SyllabusScope.GROUP and settings.group not in self.ctx.catalogue().groups:
            raise QuizError(f"unknown group {settings.group!r}; pick one from the list")
        ids = settings.syllabus.eligible(pool)
        state, clock = self.memory(trainee)
        rng = self._rng or random.Random(secrets.randbits(64))
        kinds = KIND_MIX if settings.law_questions else (QuestionKind.IDENTIFY,)
        # Photos shown in earlier quizzes could have been saved and identified since: they
        # come again only once every other photo of the syllabus was shown, and answers on
        # them never count towards a certificate (see `finish`).
        shown_before = set(self.ctx.store.shown_photos(trainee))
        plan, seen, questions = state, set(), []
        while len(questions) < settings.length:
            now = clock + len(questions)
            try:
                q = next_question(pool, ids, plan, now, rng, seen_photo_ids=seen | shown_before,
                                  kinds=kinds, difficulty=settings.difficulty,
                                  names=settings.names)
            except PoolExhausted:
                if not shown_before:
                    break  # fewer photos than questions asked for: a shorter quiz
                shown_before = set()  # every new photo was used: practise on old ones
                continue
            seen.add(q.photo_id)
            questions.append(q)
            plan = record(plan, q.class_id, True, now)  # planning only: spreads classes
        specs = [QuizQuestionSpec(public_of(q), q.answer, q.class_id) for q in questions]
        return self.ctx.store.start_quiz(trainee, settings.to_json(), specs)

    def session(self, trainee: str, session_id: int) -> QuizSession:
        sess = self.ctx.store.get_quiz(check_id(session_id, "quiz id"))
        if sess is None:
            raise NotFound(f"no quiz {session_id!r}; start a new one")
        if sess.trainee != trainee:
            raise PermissionDenied(f"quiz {session_id} belongs to another trainee", user=trainee)
        return sess

    def next_open(self, trainee: str, session_id: int) -> QuizQuestion | None:
        """The first unanswered question, or None when every question is answered."""
        sess = self.session(trainee, session_id)
        if sess.finished_at is not None:
            return None
        return next((q for q in sess.questions if not q.answered), None)

    def latest_open(self, trainee: str) -> QuizSession | None:
        """The newest unfinished session with questions left (to resume after a restart)."""
        for sess in reversed(self.ctx.store.quizzes_of(trainee)):
            if sess.finished_at is None and any(not q.answered for q in sess.questions):
                return sess
        return None

    def answer(self, trainee: str, session_id: int, question_id: int, chosen: str) -> Outcome:
        sess = self.session(trainee, session_id)
        question_id = check_id(question_id, "question id")
        row = next((q for q in sess.questions if q.id == question_id), None)
        if row is None:
            raise PermissionDenied(f"question {question_id} is not part of quiz {session_id}",
                                   user=trainee)
        public = row.public
        if chosen not in public["choices"]:
            raise QuizError(f"answer {chosen!r} is not one of the choices of question "
                            f"{question_id}; reload the question")
        with self._trainee_locks[trainee]:
            stored = self.ctx.store.record_answer(question_id, session_id=sess.id,
                                                  trainee=trainee, chosen=chosen)
            question = self._question(row, stored)
            state, clock = self.memory(trainee)
            graded = grade(question, chosen, clock)
            confused = chosen if question.kind is QuestionKind.IDENTIFY else None
            self._put_memory(trainee, record(state, question.class_id, graded.correct, clock,
                                             confused), clock + 1)
        finished = self.next_open(trainee, sess.id) is None
        if finished:
            self.ctx.store.finish_quiz(sess.id, trainee)
        return Outcome(question, graded, finished)

    def _question(self, row: QuizQuestion, stored: QuizAnswer) -> Question:
        p = row.public
        class_id = stored.class_id or stored.expected
        entry = self.ctx.catalogue().get(class_id)
        return Question(str(row.id), QuestionKind(p["kind"]), p["photo_id"], class_id,
                        entry.group if entry else "", tuple(p["choices"]), stored.expected,
                        prompt_of(p), NameStyle(p.get("names", "common")))

    # --- results ----------------------------------------------------------------------

    def answers_of(self, trainee: str, session: QuizSession) -> list[Answer]:
        kinds = {q.id: QuestionKind(q.public["kind"]) for q in session.questions}
        catalogue = self.ctx.catalogue()
        out = []
        for a in self.ctx.store.answers_for(trainee):
            if a.session_id == session.id:
                cid = a.class_id or a.expected
                entry = catalogue.get(cid)
                out.append(Answer(str(a.question_id), kinds[a.question_id], cid,
                                  entry.group if entry else "", a.chosen, a.correct, len(out)))
        return out

    def finish(self, trainee: str, session_id: int) -> Report:
        self.session(trainee, session_id)
        sess = self.ctx.store.finish_quiz(check_id(session_id, "quiz id"), trainee)
        summary = summarise(self.answers_of(trainee, sess))
        settings = QuizSettings.from_json(sess.syllabus)
        ids = settings.syllabus.eligible(self.pool())
        if not ids:
            return Report(sess, summary, None, None)
        history = certifiable(self.ctx.store.quizzes_of(trainee),
                              [a for a in self.ctx.store.answers_for(trainee) if a.class_id])
        result = certification_check(history, ids, CERT_THRESHOLD, CERT_LAST_N)
        name = settings.syllabus_name
        earlier = [c for c in self.ctx.store.certificates_of(trainee) if c.syllabus == name]
        cert = earlier[-1] if earlier else None
        if result.passed and cert is None:
            cert = self.ctx.store.issue_certificate(trainee, name, {
                "threshold": result.threshold, "last_n": result.last_n,
                "per_class": dict(result.per_class), "session_id": sess.id})
        return Report(sess, summary, result, cert)

    def progress(self, trainee: str) -> list[tuple[int, datetime, int, int]]:
        """(session id, started at, right, answered) per past session with answers."""
        right: Counter[int] = Counter()
        total: Counter[int] = Counter()
        for a in self.ctx.store.answers_for(trainee):
            total[a.session_id] += 1
            right[a.session_id] += a.correct
        return [(s.id, s.started_at, right[s.id], total[s.id])
                for s in self.ctx.store.quizzes_of(trainee) if total[s.id]]

    def cohort(self, threshold: float = CERT_THRESHOLD, since: datetime | None = None,
               recent: int = 50) -> CohortReport:
        """Per-class accuracy, most confused pairs and trainees under `threshold` over
        their last `recent` answers (check Permission.VIEW_COHORT first)."""
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold {threshold!r} must be in (0, 1]")
        catalogue = self.ctx.catalogue()
        answers = self.ctx.store.cohort_answers(since)
        right: Counter[str] = Counter()
        asked: Counter[str] = Counter()
        pairs: Counter[tuple[str, str]] = Counter()
        by_trainee: dict[str, list[bool]] = defaultdict(list)
        for a in answers:
            cid = a.class_id or a.expected
            asked[cid] += 1
            right[cid] += a.correct
            if not a.correct and a.chosen in catalogue and a.chosen != cid:
                pairs[(cid, a.chosen)] += 1
            by_trainee[a.trainee].append(a.correct)
        per_class = tuple(sorted(((c, right[c], asked[c]) for c in asked),
                                 key=lambda r: (r[1] / r[2], -r[2], r[0])))
        confused = tuple((t, c, n) for (t, c), n in
                         sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0])))
        trainees = tuple((name, sum(v[-recent:]), len(v[-recent:]))
                         for name, v in sorted(by_trainee.items()))
        below = tuple(name for name, r, n in trainees if n and r / n < threshold)
        return CohortReport(per_class, confused, trainees, below, threshold)
