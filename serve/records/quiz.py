"""Quiz sessions, answers, spaced-repetition memory and certificates: the trainee's
part of the records store (same database, same rules as the other parts: each method is
one short transaction returning frozen records)."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from serve.records.auth import PermissionDenied
from serve.records.errors import AlreadyAnswered, NotFound, QuizClosed
from serve.records.schema import (Certificate, CertificateRow, MemoryRow, QuizAnswer, QuizAnswerRow,
                                  QuizQuestionRow, QuizQuestionSpec, QuizSession, QuizSessionRow)
from serve.records.checks import aware, check_id, check_json, check_text, now
from serve.records.database import Database
from serve.records.users import existing_user


def _own_session(s: Session, session_id: int, trainee: str, verb: str) -> QuizSessionRow:
    """The quiz `session_id`, which must be `trainee`'s own (`verb`: what they tried to do)."""
    sess = s.get(QuizSessionRow, check_id(session_id, "quiz id"))
    if sess is None:
        raise NotFound(f"no quiz {session_id!r}")
    if sess.trainee != trainee:
        raise PermissionDenied(f"quiz {session_id} belongs to {sess.trainee!r}; "
                               f"{trainee!r} may not {verb} it", user=trainee)
    return sess


class QuizRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- quiz -------------------------------------------------------------------------

    def start_quiz(self, trainee: str, syllabus: Any,
                   questions: Sequence[QuizQuestionSpec]) -> QuizSession:
        if not questions:
            raise ValueError("a quiz needs at least one question")
        syllabus = check_json(syllabus, "syllabus")
        specs = [(check_json(dict(q.public), f"question {i} public"),
                  check_text(q.answer, f"question {i} answer", max_len=200, required=True),
                  q.answer if q.class_id is None else q.class_id)
                 for i, q in enumerate(questions)]
        with self._db.writing() as s:
            existing_user(s, trainee, "trainee")
            sess = QuizSessionRow(trainee=trainee, syllabus=syllabus, length=len(specs),
                                  started_at=now())
            s.add(sess)
            s.flush()
            rows = [QuizQuestionRow(session_id=sess.id, position=i, public=pub, answer=ans,
                                    class_id=cls, answered=False)
                    for i, (pub, ans, cls) in enumerate(specs)]
            s.add_all(rows)
            s.flush()
            return sess.record(rows)

    def get_quiz(self, session_id: int) -> QuizSession | None:
        with self._db.reading() as s:
            sess = s.get(QuizSessionRow, check_id(session_id, "quiz id"))
            return self._quiz_record(s, sess) if sess else None

    def quizzes_of(self, trainee: str) -> list[QuizSession]:
        with self._db.reading() as s:
            q = select(QuizSessionRow).where(QuizSessionRow.trainee == trainee)
            return [self._quiz_record(s, r) for r in s.scalars(q.order_by(QuizSessionRow.id))]

    def record_answer(self, question_id: int, *, session_id: int, trainee: str,
                      chosen: str) -> QuizAnswer:
        """Mark one answer, server side. Raises `NotFound`, `PermissionDenied` (question of
        another session, or session of another trainee), `QuizClosed`, `AlreadyAnswered`."""
        chosen = check_text(chosen, "chosen answer", max_len=200)
        question_id, session_id = check_id(question_id, "question id"), check_id(session_id, "quiz id")
        try:
            with self._db.writing() as s:
                q = s.get(QuizQuestionRow, question_id)
                if q is None:
                    raise NotFound(f"no quiz question {question_id!r}")
                if q.session_id != session_id:
                    raise PermissionDenied(f"question {question_id} belongs to quiz "
                                           f"{q.session_id}, not quiz {session_id}", user=trainee)
                sess = _own_session(s, session_id, trainee, "answer")
                if sess.finished_at is not None:
                    raise QuizClosed(f"quiz {session_id} was finished at "
                                     f"{sess.finished_at:%Y-%m-%d %H:%M} UTC; start a new one")
                claimed = s.execute(update(QuizQuestionRow).where(
                    QuizQuestionRow.id == question_id, QuizQuestionRow.answered.is_(False),
                ).values(answered=True).execution_options(synchronize_session=False)).rowcount
                if claimed != 1:
                    raise AlreadyAnswered(f"question {question_id} of quiz {session_id} is "
                                          "already answered; answers cannot be changed")
                row = QuizAnswerRow(question_id=q.id, trainee=trainee, chosen=chosen,
                                    correct=chosen == q.answer, class_id=q.class_id,
                                    answered_at=now())
                s.add(row)
                s.flush()
                return row.record(q)
        except IntegrityError:  # the unique question_id caught a concurrent second answer
            raise AlreadyAnswered(f"question {question_id} of quiz {session_id} is already "
                                  "answered; answers cannot be changed") from None

    def finish_quiz(self, session_id: int, trainee: str) -> QuizSession:
        """Close a quiz (idempotent); later answers raise `QuizClosed`."""
        with self._db.writing() as s:
            sess = _own_session(s, session_id, trainee, "finish")
            if sess.finished_at is None:
                sess.finished_at = now()
            return self._quiz_record(s, sess)

    def open_quizzes(self, trainee: str) -> list[int]:
        """Ids of `trainee`'s quizzes not finished yet, oldest first."""
        q = (select(QuizSessionRow.id).where(QuizSessionRow.trainee == trainee,
                                             QuizSessionRow.finished_at.is_(None))
             .order_by(QuizSessionRow.id))
        with self._db.reading() as s:
            return list(s.scalars(q))

    def shown_photos(self, trainee: str) -> dict[str, int]:
        """Photo id -> the first of `trainee`'s quizzes that showed it."""
        q = (select(QuizQuestionRow.public, QuizQuestionRow.session_id)
             .join(QuizSessionRow, QuizQuestionRow.session_id == QuizSessionRow.id)
             .where(QuizSessionRow.trainee == trainee).order_by(QuizQuestionRow.session_id))
        first: dict[str, int] = {}
        with self._db.reading() as s:
            for public, session_id in s.execute(q):
                photo = (public or {}).get("photo_id")
                if photo:
                    first.setdefault(photo, session_id)
        return first

    def answers_for(self, trainee: str) -> list[QuizAnswer]:
        return self._answers(QuizAnswerRow.trainee == trainee)

    def cohort_answers(self, since: datetime | None = None) -> list[QuizAnswer]:
        """Every trainee's answers (for trainers; check VIEW_COHORT first)."""
        since = aware(since, "since")
        return self._answers(*(() if since is None else (QuizAnswerRow.answered_at >= since,)))

    def _answers(self, *where: Any) -> list[QuizAnswer]:
        q = (select(QuizAnswerRow, QuizQuestionRow)
             .join(QuizQuestionRow, QuizAnswerRow.question_id == QuizQuestionRow.id)
             .where(*where).order_by(QuizAnswerRow.answered_at, QuizAnswerRow.id))
        with self._db.reading() as s:
            return [a.record(q) for a, q in s.execute(q)]

    @staticmethod
    def _quiz_record(s: Session, sess: QuizSessionRow) -> QuizSession:
        qs = s.scalars(select(QuizQuestionRow).where(QuizQuestionRow.session_id == sess.id)
                       .order_by(QuizQuestionRow.position))
        return sess.record(list(qs))

    # --- spaced-repetition memory (opaque JSON text per trainee and key) ---------------

    def get_memory(self, trainee: str, key: str) -> str | None:
        with self._db.reading() as s:
            row = s.get(MemoryRow, (trainee, key))
            return row.state if row else None

    def memory_of(self, trainee: str) -> dict[str, str]:
        with self._db.reading() as s:
            q = select(MemoryRow).where(MemoryRow.trainee == trainee)
            return {r.key: r.state for r in s.scalars(q)}

    def put_memory(self, trainee: str, key: str, state: str) -> None:
        """Insert or replace; `state` must be JSON text."""
        check_text(key, "memory key", max_len=200, required=True)
        try:
            json.loads(state)
        except (TypeError, ValueError):
            raise ValueError(f"memory state for {trainee!r}/{key!r} is not JSON text: "
                             f"{str(state)[:80]!r}; pass json.dumps(...)") from None
        for attempt in (1, 2):  # a concurrent first insert (PostgreSQL) wins; then update
            try:
                with self._db.writing() as s:
                    existing_user(s, trainee, "trainee")
                    row = s.get(MemoryRow, (trainee, key))
                    if row is None:
                        s.add(MemoryRow(trainee=trainee, key=key, state=state, updated_at=now()))
                    else:
                        row.state, row.updated_at = state, now()
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    # --- certificates -----------------------------------------------------------------

    def issue_certificate(self, trainee: str, syllabus: str,
                          score: Mapping[str, Any]) -> Certificate:
        row = CertificateRow(trainee=trainee, issued_at=now(),
                             syllabus=check_text(syllabus, "syllabus", max_len=200, required=True),
                             score=check_json(dict(score), "score"))
        with self._db.writing() as s:
            existing_user(s, trainee, "trainee")
            s.add(row)
            s.flush()
            return row.record()

    def get_certificate(self, certificate_id: int) -> Certificate | None:
        with self._db.reading() as s:
            row = s.get(CertificateRow, check_id(certificate_id, "certificate id"))
            return row.record() if row else None

    def certificates_of(self, trainee: str) -> list[Certificate]:
        with self._db.reading() as s:
            q = select(CertificateRow).where(CertificateRow.trainee == trainee)
            return [r.record() for r in s.scalars(q.order_by(CertificateRow.issued_at))]
