"""The trainee's drill: syllabus, questions with hard distractors, grading, summary.

Pure logic (stdlib only). Its inputs are its own small records, built by the app
from the species catalogue and the model's validation confusion matrix:

    pool = QuizPool.build(classes=[QuizClass(...), ...], photos={class_id: [photo ids]},
                          confusion={(true, predicted): rate})
    ids = Syllabus(SyllabusScope.APPENDIX_I).eligible(pool)
    q = next_question(pool, ids, leitner_state, now, rng, seen_photo_ids=seen)
    browser gets q.public_view(); on reply: answer = grade(q, chosen, now)
    leitner_state = record(leitner_state, q.class_id, answer.correct, now, chosen)

`Question.answer` (and `class_id`/`group`, which give it away) must stay on the
server: send only `public_view()` to the browser. Photo ids sent to the browser
should be opaque (not file names that contain the species).

The choices of an IDENTIFY question are a cluster of classes shaped by the difficulty,
and the answer is drawn uniformly from inside it, so the choices never give the answer
away (see `serve.quiz.choices`). Everything random goes through the `rng` passed in.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Callable, Collection, Mapping, Sequence

from species_data.catalogue import Appendix, Kind

from serve.i18n import Message
from serve.quiz.choices import Difficulty, QuizChoiceError, choose_choices, draw_answer, paired
from serve.quiz.schedule import (  # re-exported: the app imports the quiz API from here
    Answer, CertificationResult, GroupScore, LeitnerState, QuestionKind, QuizSummary,
    certification_check, certification_messages, mastery, next_class, record, summarise,
    summary_messages, trainee_confusions, urgency,
)

__all__ = [
    "Answer", "CertificationResult", "Difficulty", "GroupScore", "LeitnerState",
    "NameStyle", "PoolExhausted", "PublicQuestion", "Question", "QuestionKind", "QuizClass",
    "QuizError", "QuizPool", "QuizSummary", "Syllabus", "SyllabusScope",
    "certification_check", "certification_messages", "choice_message", "choose_choices",
    "draw_answer", "feedback", "grade", "make_question", "mastery", "next_class",
    "next_question", "record", "summarise", "summary_messages", "trainee_confusions",
]

N_CHOICES = 4
APPENDIX_CHOICES = tuple(a.value for a in Appendix)  # "I", "II", "III", "none"
PROTECTED_CHOICES = ("prohibited", "permit", "not_listed")
# Border procedures: the first four are the right step for App I, II, III, not listed.
NEXT_STEPS = (
    "detain_and_refer", "check_export_permit", "check_origin_certificate", "clear_normally",
    "release_with_warning", "destroy_on_site",
)
STEP_FOR_APPENDIX = dict(zip(Appendix, NEXT_STEPS))
# "Protected" means CITES-listed (as in the catalogue); the question asks what the listing allows.
PROTECTED_FOR_APPENDIX = {Appendix.I: "prohibited", Appendix.II: "permit", Appendix.III: "permit",
                          Appendix.NONE: "not_listed"}


class QuizError(ValueError):
    """A quiz cannot go on as asked (empty syllabus, photos used up...)."""


class PoolExhausted(QuizError):
    """Every photo available for the request has been shown in this session."""


class SyllabusScope(Enum):
    ALL = "all"
    GROUP = "group"
    APPENDIX_I = "appendix_i"
    PRODUCTS = "products"


class NameStyle(Enum):
    COMMON = "common"
    SCIENTIFIC = "scientific"


@dataclass(frozen=True)
class QuizClass:
    """One class as the quiz sees it (appendix and kind as in the catalogue; text such as
    'II' or 'none' is read as the `Appendix` it names)."""

    id: str
    group: str
    appendix: Appendix
    kind: Kind
    lookalikes: tuple[str, ...] = ()
    product: bool = False

    def __post_init__(self) -> None:
        if not self.id or not isinstance(self.id, str):
            raise ValueError(f"QuizClass.id {self.id!r} must be a non-empty string")
        if not self.group:
            raise ValueError(f"QuizClass {self.id!r} has no group; every class needs one")
        object.__setattr__(self, "appendix", Appendix.parse(self.appendix))
        object.__setattr__(self, "kind", Kind(self.kind))
        object.__setattr__(self, "lookalikes", tuple(self.lookalikes))


@dataclass(frozen=True)
class QuizPool:
    """Classes, their photos and the model's confusion rates, validated once."""

    classes: Mapping[str, QuizClass]
    photos: Mapping[str, tuple[str, ...]]
    confusion: Mapping[tuple[str, str], float]

    def __reduce__(self) -> tuple[object, ...]:  # read-only mappings cannot be pickled as is
        return (type(self).build, (list(self.classes.values()), dict(self.photos),
                                   dict(self.confusion)))

    @classmethod
    def build(
        cls,
        classes: Sequence[QuizClass],
        photos: Mapping[str, Sequence[str]],
        confusion: Mapping[tuple[str, str], float] | None = None,
    ) -> "QuizPool":
        """Validate and index. Confusion pairs and look-alikes naming classes outside
        the pool are ignored (the model or catalogue may know classes the quiz does not).
        """
        by_id: dict[str, QuizClass] = {}
        for c in classes:
            if c.id in by_id:
                raise ValueError(f"class id {c.id!r} appears twice in the quiz classes")
            by_id[c.id] = c
        unknown = sorted(set(photos) - set(by_id))
        if unknown:
            raise ValueError(f"photos are given for classes not in the quiz: {unknown}")
        owner: dict[str, str] = {}
        for cid, ids in photos.items():
            for pid in ids:
                if owner.setdefault(pid, cid) != cid:
                    raise ValueError(f"photo {pid!r} is listed under {owner[pid]!r} and {cid!r}")
        rates: dict[tuple[str, str], float] = {}
        for (true, pred), rate in (confusion or {}).items():
            try:
                value = float(rate)  # accepts numpy scalars too
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"confusion rate for {(true, pred)!r} is {rate!r}; need >= 0")
            if true in by_id and pred in by_id and true != pred and value > 0:
                rates[(true, pred)] = value
        return cls(
            MappingProxyType(by_id),
            MappingProxyType({c: tuple(photos.get(c, ())) for c in by_id}),
            MappingProxyType(rates),
        )


@dataclass(frozen=True)
class Syllabus:
    """What a drill covers: all classes, one group, CITES Appendix I, or products."""

    scope: SyllabusScope = SyllabusScope.ALL
    group: str | None = None

    def __post_init__(self) -> None:
        if (self.scope is SyllabusScope.GROUP) != (self.group is not None):
            raise ValueError("give a group id exactly when scope is SyllabusScope.GROUP")

    def includes(self, c: QuizClass) -> bool:
        return {
            SyllabusScope.ALL: True,
            SyllabusScope.GROUP: c.group == self.group,
            SyllabusScope.APPENDIX_I: c.appendix is Appendix.I,
            SyllabusScope.PRODUCTS: c.product,
        }[self.scope]

    def eligible(self, pool: QuizPool, n_choices: int = N_CHOICES) -> tuple[str, ...]:
        """Class ids in scope that have a photo; none if the pool cannot fill n_choices."""
        if len(pool.classes) < n_choices:
            return ()
        return tuple(c.id for c in pool.classes.values() if self.includes(c) and pool.photos[c.id])


@dataclass(frozen=True)
class PublicQuestion:
    """What the browser may see: no answer, no class id, no group."""

    id: str
    kind: QuestionKind
    photo_id: str
    choices: tuple[str, ...]
    prompt: Message
    names: NameStyle


@dataclass(frozen=True)
class Question:
    """A question with its answer. SERVER-SIDE ONLY: `answer`, `class_id` and `group`
    must never reach the browser; send `public_view()`. (answer is hidden from repr
    so it does not end up in logs.)"""

    id: str
    kind: QuestionKind
    photo_id: str
    class_id: str
    group: str
    choices: tuple[str, ...]
    answer: str = field(repr=False)
    prompt: Message
    names: NameStyle = NameStyle.COMMON
    difficulty: Difficulty = Difficulty.MEDIUM

    def public_view(self) -> PublicQuestion:
        return PublicQuestion(self.id, self.kind, self.photo_id, self.choices, self.prompt, self.names)


# --- questions -------------------------------------------------------------------------


def _identity(value: str) -> str:
    return value


def _photo(pool: QuizPool, class_id: str, seen: Collection[str], rng: random.Random) -> str:
    unseen = [p for p in pool.photos[class_id] if p not in seen]
    if not unseen:
        raise PoolExhausted(
            f"all {len(pool.photos[class_id])} photos of class {class_id!r} were already "
            "shown in this session; pick another class or start a new session"
        )
    return rng.choice(unseen)


def make_question(
    pool: QuizPool,
    class_id: str,
    kind: QuestionKind,
    rng: random.Random,
    *,
    seen_photo_ids: Collection[str] = frozenset(),
    difficulty: Difficulty = Difficulty.MEDIUM,
    names: NameStyle = NameStyle.COMMON,
    personal_confusions: Sequence[str] = (),
    n_choices: int = N_CHOICES,
    name_of: Callable[[str], str] = _identity,
    choices: Sequence[str] | None = None,
) -> Question:
    """One question whose answer is `class_id`, with a photo not in `seen_photo_ids`.

    IDENTIFY: `choices` (which must hold `class_id`) or, if None, the cluster of
    `choose_choices` around `class_id`. Quizzes use `next_question`, which draws the answer
    from inside the cluster; a cluster built around its own answer is for drills on one
    class. Deterministic for a given rng state. IDENTIFY and NEXT_STEP choices are
    shuffled; APPENDIX and PROTECTED choices keep their fixed, readable order.
    name_of renders the class name in the prompt of the non-IDENTIFY kinds.
    """
    if class_id not in pool.classes:
        raise QuizError(f"class {class_id!r} is not in the quiz pool")
    if n_choices < 2:
        raise ValueError(f"n_choices = {n_choices!r}; a question needs at least 2 choices")
    c = pool.classes[class_id]
    photo = _photo(pool, class_id, seen_photo_ids, rng)
    about = {"class_id": class_id, "name": name_of(class_id)}
    if kind is QuestionKind.IDENTIFY:
        if choices is None:
            try:
                choices = choose_choices(pool, class_id, sorted(pool.classes), difficulty, rng,
                                         personal=personal_confusions, n=n_choices)
            except QuizChoiceError as err:
                raise QuizError(str(err)) from None
        elif class_id not in choices or len(set(choices)) != len(choices) or len(choices) < 2:
            raise ValueError(f"choices {list(choices)!r} must be distinct and include {class_id!r}")
        choices = list(choices)
        rng.shuffle(choices)
        answer = class_id
        prompt = Message(f"quiz.prompt.identify.{names.value}")
    elif kind is QuestionKind.APPENDIX:
        choices, answer = list(APPENDIX_CHOICES), c.appendix.value
        prompt = Message("quiz.prompt.appendix", about)
    elif kind is QuestionKind.PROTECTED:
        choices, answer = list(PROTECTED_CHOICES), PROTECTED_FOR_APPENDIX[c.appendix]
        prompt = Message("quiz.prompt.protected", about)
    elif kind is QuestionKind.NEXT_STEP:
        answer = STEP_FOR_APPENDIX[c.appendix]
        wrong = rng.sample([s for s in NEXT_STEPS if s != answer], min(n_choices, 4) - 1)
        choices = [answer, *wrong]
        rng.shuffle(choices)
        prompt = Message("quiz.prompt.next_step", about)
    else:
        raise ValueError(f"unknown question kind {kind!r}")
    qid = f"q{rng.getrandbits(48):012x}"
    return Question(qid, kind, photo, class_id, c.group, tuple(choices), answer, prompt,
                    names, difficulty)


def next_question(
    pool: QuizPool,
    syllabus_ids: Sequence[str],
    state: LeitnerState,
    now: int,
    rng: random.Random,
    *,
    seen_photo_ids: Collection[str] = frozenset(),
    kinds: Sequence[QuestionKind] = (QuestionKind.IDENTIFY,),
    difficulty: Difficulty = Difficulty.MEDIUM,
    names: NameStyle = NameStyle.COMMON,
    name_of: Callable[[str], str] = _identity,
) -> Question:
    """A question around the scheduler's next class (among those with unseen photos).

    IDENTIFY: the choices are that class's cluster (`choose_choices`; the trainee's own
    confusions count as close) and the answer is drawn uniformly from the cluster's classes
    with unseen photos, so the choices alone never tell which one it is. HARD asks only
    about classes with a look-alike (`serve.quiz.choices.paired`); without one left, a law
    question takes the turn when the quiz has them.
    Raises PoolExhausted when every syllabus photo was shown in this session.
    """
    if not syllabus_ids:
        raise QuizError(
            "the syllabus has no eligible class (none has a photo, or the catalogue has "
            f"fewer than {N_CHOICES} classes); choose a wider syllabus"
        )
    seen = frozenset(seen_photo_ids)
    fresh = [c for c in syllabus_ids if any(p not in seen for p in pool.photos.get(c, ()))]
    if not fresh:
        total = sum(len(pool.photos.get(c, ())) for c in syllabus_ids)
        raise PoolExhausted(
            f"all {total} photos of the {len(syllabus_ids)} syllabus classes were shown in "
            "this session; start a new session or choose a wider syllabus"
        )
    target = next_class(state, fresh, now, rng)
    kind = rng.choice(list(kinds))
    if kind is QuestionKind.IDENTIFY and difficulty is Difficulty.HARD and target not in (
            askable := paired(pool, fresh)):  # a hard question is about a look-alike pair
        others = [k for k in kinds if k is not QuestionKind.IDENTIFY]
        if askable:
            target = next_class(state, askable, now, rng)
        elif others:
            kind = rng.choice(others)  # a law question about the scheduler's class instead
        elif not paired(pool, syllabus_ids):
            raise QuizError("no species of this syllabus has a look-alike in the catalogue, so there "
                            "is no hard question to ask; choose medium or easy, or a wider syllabus")
        else:
            raise PoolExhausted("every photo of the syllabus's species with a look-alike was shown "
                                "in this session; start a new session or choose medium or easy")
    choices = None
    if kind is QuestionKind.IDENTIFY:  # the target's cluster; the answer any member of it
        try:
            choices = choose_choices(pool, target, fresh, difficulty, rng,
                                     personal=trainee_confusions(state, target),
                                     priority=lambda c: urgency(state, c, now))
        except QuizChoiceError as err:
            raise QuizError(str(err)) from None
        target = draw_answer(choices, fresh, rng)
    return make_question(
        pool, target, kind, rng, seen_photo_ids=seen, difficulty=difficulty, names=names,
        name_of=name_of, personal_confusions=trainee_confusions(state, target), choices=choices,
    )


def choice_message(
    question: Question | PublicQuestion, choice: str, name_of: Callable[[str], str] = _identity
) -> Message:
    """How to show one choice; for IDENTIFY, name_of should follow `question.names`."""
    if question.kind is QuestionKind.IDENTIFY:
        return Message("quiz.choice.species", {"class_id": choice, "name": name_of(choice)})
    if question.kind is QuestionKind.APPENDIX:
        return Message(f"quiz.choice.appendix.{choice.lower()}")
    if question.kind is QuestionKind.PROTECTED:
        return Message(f"quiz.choice.protected.{choice}")
    return Message(f"quiz.step.{choice}")


# --- grading and summary ---------------------------------------------------------------


def grade(question: Question, chosen: str, now: int) -> Answer:
    """Grade the trainee's choice; it must be one of the question's choices."""
    if chosen not in question.choices:
        raise QuizError(
            f"answer {chosen!r} is not one of the choices {list(question.choices)} of "
            f"question {question.id}; the page may be stale, reload the question"
        )
    return Answer(question.id, question.kind, question.class_id, question.group, chosen,
                  chosen == question.answer, now)


def feedback(
    question: Question, answer: Answer, name_of: Callable[[str], str] = _identity
) -> tuple[Message, ...]:
    """What to show after an answer: right, or wrong plus the right choice."""
    if answer.correct:
        return (Message("quiz.feedback.correct"),)
    return (Message("quiz.feedback.wrong"), choice_message(question, question.answer, name_of))
