"""Do the quiz's choices give the answer away? (issue 14 item 3)

A trainee who knows no species at all but reads the public species cards (each lists its
look-alikes) or the published model's confusion matrix should be right no more often than
chance. Two guessers answer questions the real engine builds (`serve.quiz.engine.
next_question`) from the real catalogue, the published model's validation confusion
rates, and the classes that have photos:

    look-alike lists:  the choice whose own look-alike list names most of the other
                       choices (ties: the one most others name, then at random);
    confusion matrix:  the choice the model confuses with most of the other choices
                       (either direction), then by the summed rates; ties at random.

A third guesser reads which choices have an example photo on their card (only classes
with photos can be the answer). The table also shows how hard the questions are: how
many of the other choices are linked to the answer (a look-alike either way, or confused
by the model either way), on average.

Each question is the first of a fresh trainee's session, so the scheduler's choice of
class is as a new trainee would meet it. Run:

    python bench/quiz_leak.py [--questions 2000] [--seed 0] [--bundle data/models/current]

Prints one row per difficulty, then the worst difficulty on the last line:
`guesser accuracy: look-alike lists X, confusion matrix Y, chance Z` (target: each within
5 points of chance).
"""
from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Mapping, Sequence

try:
    from . import common as c
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]

from serve.quiz.engine import (Difficulty, LeitnerState, QuestionKind, QuizClass, QuizPool,  # noqa: E402
                               Syllabus, next_question)

PHOTOS_PER_CLASS = 1000  # ids only: no question is ever short of photos


@dataclass(frozen=True)
class Row:
    difficulty: str
    questions: int
    lookalike: float
    confusion: float
    photos: float
    chance: float
    linked: float  # other choices linked to the answer, on average


def load_pool(bundle_dir: Path) -> tuple[QuizPool, dict[str, tuple[str, ...]]]:
    """The pool the app builds: every catalogue entry a class, photos for the model's classes,
    the bundle's validation confusion rates; and the look-alike lists as the cards show them."""
    from species_data import PACKAGED_DIR, Kind, load_catalogue
    from train.bundle import Bundle

    from serve.quiz.photos import confusion_rates

    catalogue = load_catalogue(PACKAGED_DIR)
    bundle = Bundle.load(bundle_dir)
    model = SimpleNamespace(bundle=bundle)
    classes = [QuizClass(e.id, e.group, e.appendix.value, e.kind.value, e.lookalike_ids,
                         product=e.kind is Kind.PART_OR_PRODUCT) for e in catalogue]
    photos = {label: [f"{label}-{i}" for i in range(PHOTOS_PER_CLASS)]
              for label in bundle.meta.labels if label in catalogue}
    lists = {e.id: tuple(e.lookalike_ids) for e in catalogue}
    return QuizPool.build(classes, photos, confusion_rates(model)), lists


def pick(scores: Mapping[str, tuple], rng: random.Random) -> str:
    best = max(scores.values())
    return rng.choice(sorted(c for c, s in scores.items() if s == best))


def lookalike_guess(lists: Mapping[str, Sequence[str]]) -> Callable:
    def guess(choices: Sequence[str], rng: random.Random) -> str:
        return pick({c: (sum(o in lists.get(c, ()) for o in choices if o != c),
                         sum(c in lists.get(o, ()) for o in choices if o != c)) for c in choices}, rng)
    return guess


def confusion_guess(rates: Mapping[tuple[str, str], float]) -> Callable:
    def guess(choices: Sequence[str], rng: random.Random) -> str:
        def links(c: str) -> tuple[int, float]:
            others = [o for o in choices if o != c]
            return (sum(rates.get((c, o), 0.0) > 0 or rates.get((o, c), 0.0) > 0 for o in others),
                    round(sum(rates.get((c, o), 0.0) + rates.get((o, c), 0.0) for o in others), 12))
        return pick({c: links(c) for c in choices}, rng)
    return guess


def photo_guess(pool: QuizPool, lists) -> Callable:
    by_lists = lookalike_guess(lists)

    def guess(choices: Sequence[str], rng: random.Random) -> str:
        with_photos = [c for c in choices if pool.photos.get(c)] or list(choices)
        return by_lists(with_photos, rng) if len(with_photos) > 1 else with_photos[0]
    return guess


def linked(a: str, b: str, lists, rates) -> bool:
    return (b in lists.get(a, ()) or a in lists.get(b, ())
            or rates.get((a, b), 0.0) > 0 or rates.get((b, a), 0.0) > 0)


def measure(pool: QuizPool, lists, difficulty: Difficulty, n: int, seed: int) -> Row:
    ids = Syllabus().eligible(pool)
    rng = random.Random(seed)
    guessers = {"lists": lookalike_guess(lists), "matrix": confusion_guess(pool.confusion),
                "photos": photo_guess(pool, lists)}
    right: Counter[str] = Counter()
    chance = links = 0.0
    for _ in range(n):
        q = next_question(pool, ids, LeitnerState(), 0, rng, kinds=(QuestionKind.IDENTIFY,),
                          difficulty=difficulty)
        for name, guess in guessers.items():
            right[name] += guess(q.choices, rng) == q.answer
        chance += 1 / len(q.choices)
        links += sum(linked(q.answer, c, lists, pool.confusion) for c in q.choices if c != q.answer)
    return Row(difficulty.value, n, right["lists"] / n, right["matrix"] / n, right["photos"] / n,
               chance / n, links / n)


def run(args) -> list[Row]:
    pool, lists = load_pool(args.bundle)
    return [measure(pool, lists, d, args.questions, args.seed + i) for i, d in enumerate(Difficulty)]


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--questions", type=int, default=2000, help="questions per difficulty (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bundle", type=Path, default=c.DEFAULT_BUNDLE,
                   help="model bundle whose confusion matrix the quiz uses (default data/models/current)")
    args = p.parse_args(argv)
    if args.questions < 1:
        p.error("--questions must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> list[Row]:
    args = parse(argv)
    rows = run(args)
    print(f"{'difficulty':<10} {'questions':>9} {'look-alike lists':>17} {'confusion matrix':>17} "
          f"{'example photos':>15} {'chance':>7} {'linked choices':>15}")
    for r in rows:
        print(f"{r.difficulty:<10} {r.questions:>9} {r.lookalike:>17.1%} {r.confusion:>17.1%} "
              f"{r.photos:>15.1%} {r.chance:>7.1%} {r.linked:>15.2f}")
    worst = max(rows, key=lambda r: max(abs(r.lookalike - r.chance), abs(r.confusion - r.chance)))
    print(f"worst difficulty: {worst.difficulty}")
    print(f"guesser accuracy: look-alike lists {worst.lookalike:.1%}, confusion matrix {worst.confusion:.1%}, "
          f"chance {worst.chance:.1%}", flush=True)
    return rows


if __name__ == "__main__":
    rows = main()
    sys.exit(0 if all(abs(v - r.chance) <= 0.05 for r in rows
                      for v in (r.lookalike, r.confusion, r.photos)) else 1)
