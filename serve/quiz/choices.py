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

    HARD    look-alikes only: the largest set (up to four) around the target in which every
            two classes are catalogue look-alikes of each other, so whichever is the answer
            and whichever is chosen, the catalogue has the cue that separates them (issue 17
            item 5: no "Rhino horn" or "Puma" offered against a bear). Two or three choices
            when the catalogue has no more; a class without a look-alike gets no hard question;
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


class Difficulty(Enum):
    EASY = "easy"  # classes unrelated to one another
    MEDIUM = "medium"  # two pairs of look-alikes
    HARD = "hard"  # catalogue look-alikes of one another


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


def cue_linked(pool: QuizPool) -> Callable[[str, str], bool]:
    """Whether the catalogue holds a cue separating two classes (a look-alike link either way)."""
    links = {frozenset((c.id, other)) for c in pool.classes.values() for other in c.lookalikes
             if other in pool.classes and other != c.id}
    return lambda a, b: frozenset((a, b)) in links


def paired(pool: QuizPool, ids: Sequence[str]) -> list[str]:
    """The classes of `ids` with a look-alike (and so a separating cue) among the classes that
    have photos: the only ones a hard question can be about."""
    linked = cue_linked(pool)
    shown = [c for c in pool.classes if pool.photos.get(c)]
    return [a for a in ids if any(linked(a, b) for b in shown if b != a)]


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
    if difficulty is Difficulty.HARD:  # look-alikes of one another, answerable ones first
        shown = [c for c in rest if pool.photos.get(c)]  # never a class no question can be about
        return (target, *_lookalikes(target, first, shown, n - 1, cue_linked(pool), weigh))
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
    if difficulty is Difficulty.MEDIUM:
        return _pairs(chosen, candidates, k, near, weigh)
    return _apart(chosen, candidates, k, near, weigh)


def _lookalikes(target: str, first: list[str], rest: list[str], k: int,
                linked: Callable[[str, str], bool], weigh: _Weigh) -> tuple[str, ...]:
    """The largest set (at most k) of look-alikes of `target` that are look-alikes of each
    other, with as many of `first` (the answerable classes) as possible; among equally good
    sets, one drawn by priority."""
    preferred = set(first)
    near = [c for c in first + rest if linked(target, c)]
    for size in range(min(k, len(near)), 0, -1):
        sets = [extra for extra in itertools.combinations(near, size)
                if all(linked(a, b) for a, b in itertools.combinations(extra, 2))]
        if sets:
            most = max(len(preferred.intersection(extra)) for extra in sets)
            return weigh.group([extra for extra in sets if len(preferred.intersection(extra)) == most])
    raise QuizChoiceError(f"{target!r} has no look-alike with photos in the catalogue, so it has no "
                          "hard question; choose medium or easy, or a wider syllabus")


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
