"""The choices of a "what is this?" question, drawn so that they do not give the answer away.

Why: distractors used to be the right answer's nearest look-alikes, so the answer was the
choice whose look-alike list (printed on every species card) or whose row of the model's
confusion matrix covered the other choices: a guesser who knew no species scored 40-60 %
on four choices (issue 14 item 3; `bench/quiz_leak.py` measures it). Now a question is a
*cluster* of classes, and the answer is drawn uniformly from inside it:

- the scheduler picks the class the trainee should practise (`target`);
- the cluster is built around it, as tight as the difficulty asks;
- the answer is any member of the cluster, each equally likely, whatever the cluster looks
  like. Given only the choices (and anything public about them) every choice is then the
  answer with probability 1/4, so no reading of cards or matrices beats chance.

Members are taken from the classes that can be the answer (in the syllabus, with a photo
not yet shown): a distractor that could never be right would be visible as such. Only when
fewer such classes exist than choices are others added, and then the answer is one of the
answerable members (a narrow syllabus tells the trainee that much anyway).

Closeness of two classes, from what trainees and trainers see: a look-alike link in either
direction (2), the model's confusion rates both ways (x10), the trainee's own past
confusions (3), the same group (0.5). Difficulty shapes the cluster:

    HARD    the four mutually closest classes around the target;
    MEDIUM  two pairs of look-alikes far from each other;
    EASY    classes with no link to one another.

Pure logic (stdlib only); every random draw goes through the `rng` passed in.
"""
from __future__ import annotations

import itertools
import random
from enum import Enum
from typing import TYPE_CHECKING, Callable, Collection, Sequence

if TYPE_CHECKING:
    from serve.quiz.engine import QuizPool

LOOKALIKE, CONFUSION, PERSONAL, SAME_GROUP = 2.0, 10.0, 3.0, 0.5
CLOSE = 1.0  # at least this close: a look-alike, a real confusion, or the trainee's own
HARD_CANDIDATES = 8  # the target's nearest classes among which the tightest cluster is sought
HARD_SLACK = 0.5  # clusters this close to the tightest are drawn from too (variety)


class Difficulty(Enum):
    EASY = "easy"  # classes unrelated to one another
    MEDIUM = "medium"  # two pairs of look-alikes
    HARD = "hard"  # mutually closest classes


class QuizChoiceError(ValueError):
    """Too few classes for the choices asked for."""


def closeness(pool: QuizPool, personal: Collection[tuple[str, str]] = ()) -> Callable[[str, str], float]:
    """A symmetric closeness of two class ids (0 for unrelated classes)."""
    links: dict[frozenset, float] = {}

    def add(a: str, b: str, weight: float) -> None:
        if a != b:
            key = frozenset((a, b))
            links[key] = links.get(key, 0.0) + weight

    for c in pool.classes.values():
        for other in dict.fromkeys(c.lookalikes):
            if other in pool.classes:
                add(c.id, other, LOOKALIKE)
    for (a, b), rate in pool.confusion.items():
        add(a, b, CONFUSION * rate)
    for a, b in personal:
        add(a, b, PERSONAL)
    classes = pool.classes

    def near(a: str, b: str) -> float:
        same = SAME_GROUP if a != b and classes[a].group == classes[b].group else 0.0
        return links.get(frozenset((a, b)), 0.0) + same
    return near


def choose_choices(pool: QuizPool, target: str, answerable: Sequence[str], difficulty: Difficulty,
                   rng: random.Random, *, personal: Sequence[str] = (), n: int = 4,
                   priority: Callable[[str], float] | None = None) -> tuple[str, ...]:
    """`n` class ids including `target`, shaped by `difficulty`, answerable classes first.

    `personal`: classes the trainee has mistaken `target` for (they count as close).
    `priority`: how much each class is worth practising now (the scheduler's urgency);
    where the shape leaves a choice, members are drawn in proportion to it, so the cluster
    is made of classes due for practice. (The answer stays uniform within the cluster,
    so this tells a guesser nothing.)"""
    if len(pool.classes) < n:
        raise QuizChoiceError(f"only {len(pool.classes) - 1} other classes for {n - 1} distractors; "
                              "add classes")
    near = closeness(pool, [(target, p) for p in personal if p in pool.classes])
    first = [c for c in dict.fromkeys(answerable) if c != target and c in pool.classes]
    rest = [c for c in sorted(pool.classes) if c != target and c not in set(first)]
    weigh = _Weigh(priority or (lambda c: 1.0), rng)
    chosen = [target]
    for candidates in (first, rest):  # the rest only when too few answerable classes exist
        wanted = n - len(chosen)
        if wanted <= 0:
            break
        chosen += _grow(chosen, candidates, wanted, difficulty, near, weigh)
    return tuple(chosen)


def draw_answer(choices: Sequence[str], answerable: Collection[str], rng: random.Random) -> str:
    """The answer: any answerable choice, each equally likely."""
    members = [c for c in choices if c in answerable]
    if not members:
        raise QuizChoiceError(f"none of the choices {list(choices)} can be the answer")
    return rng.choice(members)


# --- cluster shapes ----------------------------------------------------------------------


class _Weigh:
    """Draws among equally fitting options in proportion to the classes' priority."""

    def __init__(self, priority: Callable[[str], float], rng: random.Random) -> None:
        self.priority, self.rng = priority, rng

    def one(self, options: Sequence[str]) -> str:
        return self.rng.choices(list(options), weights=[max(self.priority(c), 1e-9) for c in options])[0]

    def group(self, options: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
        weights = [max(sum(self.priority(c) for c in option), 1e-9) for option in options]
        return self.rng.choices(list(options), weights=weights)[0]


def _grow(chosen: list[str], candidates: list[str], k: int, difficulty: Difficulty,
          near: Callable[[str, str], float], weigh: _Weigh) -> list[str]:
    """Up to k more members from `candidates`, fitting the cluster so far."""
    candidates = [c for c in candidates if c not in chosen]
    if len(candidates) <= k:
        return candidates
    if difficulty is Difficulty.HARD:
        return _tightest(chosen, candidates, k, near, weigh)
    if difficulty is Difficulty.MEDIUM:
        return _pairs(chosen, candidates, k, near, weigh)
    return _apart(chosen, candidates, k, near, weigh)


def _tightest(chosen, candidates, k, near, weigh: _Weigh) -> list[str]:
    """k candidates that, with `chosen`, have (nearly) the largest total closeness."""
    def pull(c: str) -> float:
        return sum(near(c, x) for x in chosen)
    ranked = sorted(candidates, key=lambda c: (-pull(c), c))[:max(HARD_CANDIDATES, k)]

    def score(extra: tuple[str, ...]) -> float:
        return sum(pull(c) for c in extra) + sum(near(a, b) for a, b in itertools.combinations(extra, 2))
    scored = [(score(extra), extra) for extra in itertools.combinations(ranked, k)]
    best = max(s for s, _ in scored)
    return list(weigh.group([extra for s, extra in scored if s >= best - HARD_SLACK]))


def _pairs(chosen, candidates, k, near, weigh: _Weigh) -> list[str]:
    """Look-alike pairs, each far from the others: the last member's partner first."""
    added: list[str] = []
    left = sorted(candidates)
    while len(added) < k and left:
        members = chosen + added
        if len(members) % 2:  # complete the open pair with one of the two closest
            pick = weigh.one(sorted(left, key=lambda c: (-near(members[-1], c), c))[:2])
        else:  # start a new pair far from every member
            pick = weigh.one([c for c in left if all(near(c, m) < CLOSE for m in members)] or left)
        added.append(pick)
        left.remove(pick)
    return added


def _apart(chosen, candidates, k, near, weigh: _Weigh) -> list[str]:
    """Classes as unrelated as possible to each other and to `chosen`."""
    added: list[str] = []
    left = sorted(candidates)
    while len(added) < k and left:
        members = chosen + added
        links = {c: sum(near(c, m) for m in members) for c in left}
        least = min(links.values())
        pick = weigh.one([c for c in left if links[c] == least])
        added.append(pick)
        left.remove(pick)
    return added
