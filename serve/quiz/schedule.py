"""What to ask when, and how well it is known: scheduling, answer history, mastery.

Holds the records the quiz history is made of (`QuestionKind`, `Answer`), so that
this module does not import `serve.quiz.engine`; the app imports them from `serve.quiz.engine`,
which re-exports them.

Scheduler: a **Leitner box** system (Sebastian Leitner, "So lernt man lernen", 1972).
Each class is a card in one of 5 boxes. A right answer moves it up one box, a wrong
answer sends it back to box 1. The higher the box, the longer until it is asked again.

Intervals are counted in *questions answered*, not days. A drill is a burst of a few
dozen questions on a shared office PC: day-based intervals would make every card
due (or none) within one session, and a questions clock needs no trustworthy wall
clock, works offline, and is the same unit the certification counts. Across
sessions the clock simply continues (store `now` with the state). The intervals
roughly double per box (see `INTERVALS`), as in Leitner's original scheme.

Besides the per-class cards, every confused pair (true class, class chosen instead)
gets its own card: it starts in box 1 when the trainee confuses the two, moves up
when the trainee later answers the true class right, and is dropped after leaving
box 5. `trainee_confusions()` feeds active pairs to the question maker as the
hardest distractors, and `next_class()` weights classes with active pairs higher.

Everything is pure: state in, new state out; `to_dict`/`from_dict` store it as JSON.
Mastery, certification and the end-of-quiz summary read a history of graded
answers (oldest first, newest last).
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field, replace
from enum import Enum
from types import MappingProxyType
from typing import Any, Callable, Mapping, Protocol, Sequence

from serve.i18n import Message

N_BOXES = 5
# Questions answered until a card in box 1..5 is due again.
INTERVALS: tuple[int, ...] = (2, 4, 8, 16, 32)
SCHEME = "leitner-questions"
VERSION = 1


class QuestionKind(Enum):
    """The four kinds of quiz question (see serve.quiz.engine)."""

    IDENTIFY = "identify"  # what is this?
    APPENDIX = "appendix"  # which CITES appendix?
    PROTECTED = "protected"  # is this item protected?
    NEXT_STEP = "next_step"  # what is the next step at the border?


@dataclass(frozen=True)
class CardState:
    """Memory state of one class: its Leitner box and when it is due again."""

    box: int = 1
    due: int = 0  # question clock value from which the card is due
    seen: int = 0
    lapses: int = 0  # wrong answers so far
    last_seen: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.box <= N_BOXES:
            raise ValueError(f"box {self.box!r} is outside 1..{N_BOXES}")


@dataclass(frozen=True)
class PairState:
    """Memory state of one confusion: the trainee chose `chosen` for `true`."""

    box: int = 1
    due: int = 0
    count: int = 0  # times this confusion happened

    def __post_init__(self) -> None:
        if not 1 <= self.box <= N_BOXES:
            raise ValueError(f"pair box {self.box!r} is outside 1..{N_BOXES}")


@dataclass(frozen=True)
class LeitnerState:
    """All cards of one trainee. Read-only mappings; `record()` returns a new state."""

    cards: Mapping[str, CardState] = field(default_factory=dict)
    pairs: Mapping[tuple[str, str], PairState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cards", MappingProxyType(dict(self.cards)))
        object.__setattr__(self, "pairs", MappingProxyType(dict(self.pairs)))

    def __reduce__(self) -> tuple[Any, ...]:  # read-only mappings cannot be pickled/deep-copied
        return (type(self), (dict(self.cards), dict(self.pairs)))

    def card(self, class_id: str) -> CardState:
        """The class's card; a class never asked is a new card, due now, in box 1."""
        return self.cards.get(class_id, CardState())

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": SCHEME,
            "version": VERSION,
            "intervals": list(INTERVALS),
            "cards": {
                cid: {"box": c.box, "due": c.due, "seen": c.seen, "lapses": c.lapses,
                      "last_seen": c.last_seen}
                for cid, c in sorted(self.cards.items())
            },
            "pairs": [
                {"true": t, "chosen": ch, "box": p.box, "due": p.due, "count": p.count}
                for (t, ch), p in sorted(self.pairs.items())
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LeitnerState":
        if data.get("scheme") != SCHEME or data.get("version") != VERSION:
            raise ValueError(
                f"stored quiz state has scheme={data.get('scheme')!r} "
                f"version={data.get('version')!r}; expected {SCHEME!r} version {VERSION}. "
                "Reset the trainee's progress or migrate it"
            )
        try:
            cards = {str(cid): CardState(**c) for cid, c in data["cards"].items()}
            pairs = {
                (str(p["true"]), str(p["chosen"])): PairState(p["box"], p["due"], p["count"])
                for p in data["pairs"]
            }
        except (KeyError, TypeError) as exc:
            raise ValueError(f"stored quiz state is malformed ({exc!r}); reset it") from None
        return cls(cards, pairs)


def record(
    state: LeitnerState, class_id: str, correct: bool, now: int, chosen: str | None = None
) -> LeitnerState:
    """The state after the trainee answered a question on `class_id` at clock `now`.

    Right: the card moves up a box, and the class's confusion pairs move up too
    (the trainee told the classes apart this time). Wrong: the card goes back to
    box 1; if `chosen` is another class, the pair (class_id, chosen) goes to box 1.
    """
    old = state.card(class_id)
    box = min(old.box + 1, N_BOXES) if correct else 1
    cards = dict(state.cards)
    cards[class_id] = CardState(
        box=box,
        due=now + INTERVALS[box - 1],
        seen=old.seen + 1,
        lapses=old.lapses + (0 if correct else 1),
        last_seen=now,
    )
    pairs = dict(state.pairs)
    if correct:
        for key in [k for k in pairs if k[0] == class_id]:
            p = pairs[key]
            if p.box >= N_BOXES:
                del pairs[key]  # retired: not confused for a full cycle
            else:
                pairs[key] = replace(p, box=p.box + 1, due=now + INTERVALS[p.box])
    elif chosen is not None and chosen != class_id:
        p = pairs.get((class_id, chosen), PairState())
        pairs[(class_id, chosen)] = PairState(1, now + INTERVALS[0], p.count + 1)
    return LeitnerState(cards, pairs)


def trainee_confusions(state: LeitnerState, class_id: str) -> tuple[str, ...]:
    """Classes this trainee has mistaken `class_id` for, weakest pair first."""
    mine = [(ch, p) for (t, ch), p in state.pairs.items() if t == class_id]
    mine.sort(key=lambda cp: (cp[1].box, -cp[1].count, cp[0]))
    return tuple(ch for ch, _ in mine)


def _weight(state: LeitnerState, class_id: str, now: int) -> float:
    """Weak classes weigh more: low box, lapses, active confusions, overdue."""
    card = state.card(class_id)
    active_pairs = sum(1 for (t, _), p in state.pairs.items() if t == class_id and p.due <= now)
    overdue = max(0, now - card.due)
    interval = INTERVALS[card.box - 1]
    return (
        2.0 ** (N_BOXES - card.box)
        * (1.0 + min(card.lapses, 3) / 3.0)
        * (1.0 + active_pairs)
        * (1.0 + overdue / interval)
    )


def urgency(state: LeitnerState, class_id: str, now: int) -> float:
    """How much the scheduler wants `class_id` asked at `now`: its weight when due, a tenth
    of it when not (used to fill a question's cluster with classes worth practising)."""
    weight = _weight(state, class_id, now)
    return weight if state.card(class_id).due <= now else 0.1 * weight


def next_class(
    state: LeitnerState, syllabus: Sequence[str], now: int, rng: random.Random
) -> str:
    """The class to ask next, at question clock `now` (questions answered so far).

    Due classes come first, drawn at random weighted towards weak ones; if none is
    due, the soonest-due classes are drawn from. The class asked just before
    (last seen at `now - 1`) is not repeated unless it is the only one.
    """
    if not syllabus:
        raise ValueError("the syllabus has no classes; choose a wider syllabus")
    pool = [c for c in dict.fromkeys(syllabus) if state.card(c).last_seen != now - 1] or list(
        dict.fromkeys(syllabus)
    )
    due = [c for c in pool if state.card(c).due <= now]
    if not due:
        soonest = min(state.card(c).due for c in pool)
        due = [c for c in pool if state.card(c).due == soonest]
    weights = [_weight(state, c, now) for c in due]
    return rng.choices(due, weights=weights, k=1)[0]


# --- mastery and certification ---------------------------------------------------------


class Graded(Protocol):
    """What mastery needs from an answer record (serve.quiz.engine.Answer satisfies it)."""

    @property
    def class_id(self) -> str: ...

    @property
    def correct(self) -> bool: ...


def _last_answers(history: Sequence[Graded], class_ids: Sequence[str], last_n: int) -> dict[str, list[bool]]:
    if not isinstance(last_n, int) or last_n < 1:
        raise ValueError(f"last_n = {last_n!r} must be a positive integer")
    wanted = set(class_ids)
    recent: dict[str, list[bool]] = {c: [] for c in class_ids}
    for answer in reversed(history):  # newest first; stop early once every class is full
        cid = answer.class_id
        if cid in wanted and len(recent[cid]) < last_n:
            recent[cid].append(bool(answer.correct))
            if len(recent[cid]) == last_n:
                wanted.discard(cid)
                if not wanted:
                    break
    return recent


def mastery(history: Sequence[Graded], class_ids: Sequence[str], last_n: int = 8) -> dict[str, float]:
    """Share of right answers over each class's last `last_n` answers (0.0 if never asked)."""
    recent = _last_answers(history, class_ids, last_n)
    return {c: (sum(r) / len(r) if r else 0.0) for c, r in recent.items()}


@dataclass(frozen=True)
class CertificationResult:
    """passed: every class has >= min_answers recent answers and mastery >= threshold.

    missing_classes: classes with too few answers to judge (they do not pass).
    """

    passed: bool
    per_class: Mapping[str, float]
    missing_classes: tuple[str, ...]
    threshold: float
    last_n: int

    @property
    def done(self) -> tuple[str, ...]:
        """The classes already mastered: enough recent answers, at or above the threshold."""
        return tuple(c for c, v in self.per_class.items()
                     if c not in self.missing_classes and v >= self.threshold)


def certification_check(
    history: Sequence[Graded],
    class_ids: Sequence[str],
    threshold: float = 0.85,
    last_n: int = 8,
    min_answers: int | None = None,
) -> CertificationResult:
    """Whether the trainee masters every class of the syllabus.

    With the defaults a class needs 7 of its last 8 answers right (7/8 = 0.875).
    min_answers defaults to last_n: a class must have been asked that often.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold = {threshold!r} must be in (0, 1]")
    if not class_ids:
        raise ValueError("no classes to certify; the syllabus is empty")
    need = last_n if min_answers is None else min_answers
    if not 1 <= need <= last_n:
        raise ValueError(f"min_answers = {min_answers!r} must be in 1..last_n ({last_n})")
    recent = _last_answers(history, class_ids, last_n)
    per_class = {c: (sum(r) / len(r) if r else 0.0) for c, r in recent.items()}
    missing = tuple(c for c, r in recent.items() if len(r) < need)
    passed = not missing and all(v >= threshold for v in per_class.values())
    return CertificationResult(passed, MappingProxyType(per_class), missing, threshold, last_n)


# --- answer history and end-of-quiz summary ----------------------------------------


def _strict_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"'correct' must be true or false, not {value!r}")
    return value


@dataclass(frozen=True)
class Answer:
    """One graded answer; `at` is the question clock (questions answered before it)."""

    question_id: str
    kind: QuestionKind
    class_id: str
    group: str
    chosen: str
    correct: bool
    at: int

    def to_dict(self) -> dict[str, Any]:
        return {"question_id": self.question_id, "kind": self.kind.value,
                "class_id": self.class_id, "group": self.group, "chosen": self.chosen,
                "correct": self.correct, "at": self.at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Answer":
        try:
            return cls(str(data["question_id"]), QuestionKind(data["kind"]),
                       str(data["class_id"]), str(data["group"]), str(data["chosen"]),
                       _strict_bool(data["correct"]), int(data["at"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"stored answer {dict(data)!r} is malformed: {exc}") from None


@dataclass(frozen=True)
class GroupScore:
    correct: int
    total: int

    @property
    def rate(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True)
class QuizSummary:
    """score of total right; per group; (true, chosen) IDENTIFY mix-ups, most frequent first."""

    score: int
    total: int
    per_group: Mapping[str, GroupScore]
    confused_pairs: tuple[tuple[tuple[str, str], int], ...]


def _identity(value: str) -> str:
    return value


def summarise(answers: Sequence[Answer]) -> QuizSummary:
    """Score of a finished quiz, per group, and its IDENTIFY mix-ups."""
    right: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    mixups: Counter[tuple[str, str]] = Counter()
    for a in answers:
        asked[a.group] += 1
        right[a.group] += a.correct
        if not a.correct and a.kind is QuestionKind.IDENTIFY:
            mixups[(a.class_id, a.chosen)] += 1
    per_group = {g: GroupScore(right[g], asked[g]) for g in sorted(asked)}
    pairs = tuple(sorted(mixups.items(), key=lambda kv: (-kv[1], kv[0])))
    return QuizSummary(sum(right.values()), len(answers), per_group, pairs)


def summary_messages(
    summary: QuizSummary, name_of: Callable[[str], str] = _identity, max_pairs: int = 3
) -> tuple[Message, ...]:
    """The end-of-quiz screen: the score, then the most frequent mix-ups."""
    out = [Message("quiz.summary.score", {"score": summary.score, "total": summary.total})]
    for (true, chosen), count in summary.confused_pairs[:max_pairs]:
        out.append(Message("quiz.summary.confused", {
            "true": true, "true_name": name_of(true), "chosen": chosen,
            "chosen_name": name_of(chosen), "count": count}))
    return tuple(out)


def certification_messages(result: CertificationResult) -> tuple[Message, ...]:
    """The certification rule in plain words: how many species are done out of how many, and
    what each needs ("To certify: 3 of 23 species done; each needs its last 8 answers at
    85 % or more")."""
    params = {"threshold": result.threshold, "last_n": result.last_n,
              "done": len(result.done), "total": len(result.per_class)}
    if result.passed:
        return (Message("quiz.certification.passed", params),)
    return (Message("quiz.certification.not_yet", params),)
