"""Does the Leitner scheduler get trainees certified with fewer questions than random?

Simulated trainees, one per seed, drill a syllabus of ~20 classes until
`certification_check` passes (default: 7 of the last 8 answers right on every
class). Two arms see the *same* trainee (same starting knowledge, same learning
speed per class) and differ only in how the next class is chosen:

    scheduler: serve.quiz.schedule.next_class (Leitner boxes) + record()
    random:    a uniformly random syllabus class every question
    cluster:   what the app asks since issue 14 (serve.quiz.engine.next_question, MEDIUM):
               the scheduler's class names a cluster of look-alikes, filled with classes due
               for practice, and the answer is drawn uniformly from it

Trainee model (per class i; all rates fixed below, not tuned per arm):
    recall  = prior_i + (known_i - prior_i) * 2 ** (-(questions since last seen) / half_life_i)
    P(right) = GUESS + (1 - GUESS) * recall            (4 choices: GUESS = 0.25)
    after a right answer:  known += LEARN_RIGHT * ease_i * (1 - known); half_life *= GROW_RIGHT
    after a wrong answer (the right answer is shown):
                           known += LEARN_WRONG * ease_i * (1 - known); half_life *= GROW_WRONG
So drilling helps (more after wrong-answer feedback) and unpractised knowledge decays
back towards what the trainee knew before the course.

Run: .venv/bin/python -m bench.quiz_simulation [--seeds N] [--classes N]
Ends with one line: `questions to certification: scheduler A, random B, ratio B/A = R`.
"""
from __future__ import annotations

import argparse
import functools
import random
import statistics
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/quiz_simulation.py`

from serve.quiz.engine import Difficulty, QuizClass, QuizPool, next_question  # noqa: E402
from serve.quiz.schedule import (  # noqa: E402
    Answer,
    LeitnerState,
    QuestionKind,
    certification_check,
    next_class,
    record,
)

GUESS = 0.25
LEARN_RIGHT = 0.15
LEARN_WRONG = 0.35
GROW_RIGHT = 1.6
GROW_WRONG = 1.1
START_HALF_LIFE = 12.0  # questions
GROUP_SIZE = 4
THRESHOLD = 0.85
LAST_N = 8
MAX_QUESTIONS = 4000


@dataclass
class Trainee:
    """Mutable simulation state of one trainee (never part of the app)."""

    prior: list[float]
    ease: list[float]
    known: list[float]
    half_life: list[float]
    last_seen: list[int | None]

    @classmethod
    def draw(cls, n_classes: int, rng: random.Random) -> "Trainee":
        prior = [rng.uniform(0.0, 0.5) for _ in range(n_classes)]
        ease = [rng.uniform(0.3, 1.0) for _ in range(n_classes)]
        return cls(prior, ease, list(prior), [START_HALF_LIFE] * n_classes, [None] * n_classes)

    def copy(self) -> "Trainee":
        return Trainee(list(self.prior), list(self.ease), list(self.known),
                       list(self.half_life), list(self.last_seen))

    def p_right(self, i: int, now: int) -> float:
        last = self.last_seen[i]
        kept = 1.0 if last is None else 2.0 ** (-(now - last) / self.half_life[i])
        recall = self.prior[i] + (self.known[i] - self.prior[i]) * kept
        return GUESS + (1.0 - GUESS) * recall

    def learn(self, i: int, right: bool, now: int) -> None:
        rate, grow = (LEARN_RIGHT, GROW_RIGHT) if right else (LEARN_WRONG, GROW_WRONG)
        self.known[i] += rate * self.ease[i] * (1.0 - self.known[i])
        self.half_life[i] *= grow
        self.last_seen[i] = now


Picker = Callable[[LeitnerState, list[str], int, random.Random], str]


def scheduler_pick(state: LeitnerState, ids: list[str], now: int, rng: random.Random) -> str:
    return next_class(state, ids, now, rng)


def random_pick(state: LeitnerState, ids: list[str], now: int, rng: random.Random) -> str:
    return rng.choice(ids)


def cluster_pick(state: LeitnerState, ids: list[str], now: int, rng: random.Random) -> str:
    """What the app asks (`serve.quiz.engine.next_question`, MEDIUM): the scheduler's class
    names a cluster of look-alikes and the answer is drawn inside it (issue 14 item 3). The
    simulated catalogue: groups of GROUP_SIZE classes, each listing the others as look-alikes."""
    return next_question(_pool(tuple(ids)), ids, state, now, rng, difficulty=Difficulty.MEDIUM).answer


@functools.lru_cache(maxsize=4)
def _pool(ids: tuple[str, ...]) -> QuizPool:
    def group(i: int) -> list[str]:
        start = i // GROUP_SIZE * GROUP_SIZE
        return [c for c in ids[start:start + GROUP_SIZE] if c != ids[i]]
    classes = [QuizClass(c, f"g{i // GROUP_SIZE}", "II", "whole_animal", tuple(group(i)))
               for i, c in enumerate(ids)]
    return QuizPool.build(classes, {c: [f"{c}-photo"] for c in ids})


def questions_to_certify(trainee: Trainee, pick: Picker, rng: random.Random) -> int:
    """Questions answered until certification passes (MAX_QUESTIONS if it never does)."""
    n = len(trainee.known)
    ids = [f"class{i:02d}" for i in range(n)]
    index = {c: i for i, c in enumerate(ids)}
    recent: dict[str, deque[Answer]] = {c: deque(maxlen=LAST_N) for c in ids}
    state = LeitnerState()
    for now in range(MAX_QUESTIONS):
        cid = pick(state, ids, now, rng)
        i = index[cid]
        right = rng.random() < trainee.p_right(i, now)
        # A wrong answer picks the next class of the same group (the usual mix-up).
        group = i // GROUP_SIZE
        mixup = group * GROUP_SIZE + (i + 1) % GROUP_SIZE
        chosen = cid if right else ids[mixup if mixup < n and mixup != i else (i + 1) % n]
        trainee.learn(i, right, now)
        state = record(state, cid, right, now, chosen)
        recent[cid].append(Answer(f"q{now}", QuestionKind.IDENTIFY, cid, f"g{group}",
                                  chosen, right, now))
        # Certification depends only on each class's last LAST_N answers.
        window = [a for q in recent.values() for a in q]
        if certification_check(window, ids, THRESHOLD, LAST_N).passed:
            return now + 1
    return MAX_QUESTIONS


def simulate(n_seeds: int = 40, n_classes: int = 20) -> dict[str, list[int]]:
    """Questions to certification per seed, for both arms on the same trainees."""
    results: dict[str, list[int]] = {"scheduler": [], "random": [], "cluster": []}
    arms = (("scheduler", scheduler_pick), ("random", random_pick), ("cluster", cluster_pick))
    for seed in range(n_seeds):
        trainee = Trainee.draw(n_classes, random.Random(10_000 + seed))
        for k, (arm, pick) in enumerate(arms):
            rng = random.Random(seed * 7919 + k)
            results[arm].append(questions_to_certify(trainee.copy(), pick, rng))
    return results


def result_line(results: dict[str, list[int]]) -> str:
    a = statistics.mean(results["scheduler"])
    b = statistics.mean(results["random"])
    return f"questions to certification: scheduler {a:.0f}, random {b:.0f}, ratio B/A = {b / a:.2f}"


def table(results: dict[str, list[int]]) -> str:
    rows = [f"{'arm':<10} {'mean':>6} {'median':>7} {'p10':>6} {'p90':>6} {'capped':>7}"]
    for arm, values in results.items():
        deciles = statistics.quantiles(values, n=10) if len(values) > 1 else values * 9
        capped = sum(v >= MAX_QUESTIONS for v in values)
        rows.append(
            f"{arm:<10} {statistics.mean(values):>6.0f} {statistics.median(values):>7.0f} "
            f"{deciles[0]:>6.0f} {deciles[-1]:>6.0f} {capped:>7d}"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--classes", type=int, default=20)
    args = parser.parse_args()
    start = time.perf_counter()
    results = simulate(args.seeds, args.classes)
    print(f"{args.seeds} simulated trainees, {args.classes} classes, certification = "
          f"{THRESHOLD:.0%} of the last {LAST_N} answers on every class "
          f"({time.perf_counter() - start:.1f} s)")
    print(table(results))
    c, b = statistics.mean(results["cluster"]), statistics.mean(results["random"])
    print(f"as the app asks (scheduler's cluster, answer drawn inside it): {c:.0f}, ratio random/cluster = {b / c:.2f}")
    print(result_line(results))


if __name__ == "__main__":
    main()
