"""bench.quiz_simulation in miniature: the Leitner scheduler beats random questions."""
from __future__ import annotations

import re

from bench import quiz_simulation as sim


def test_scheduler_needs_fewer_questions_than_random():
    results = sim.simulate(n_seeds=5, n_classes=20)
    line = sim.result_line(results)
    match = re.fullmatch(
        r"questions to certification: scheduler (\d+), random (\d+), ratio B/A = ([\d.]+)", line
    )
    assert match, line
    assert float(match.group(3)) > 1.0, line
    assert all(v < sim.MAX_QUESTIONS for vs in results.values() for v in vs)


def test_trainee_learns_more_from_wrong_answers_and_forgets():
    t = sim.Trainee([0.2], [1.0], [0.2], [sim.START_HALF_LIFE], [None])
    right, wrong = t.copy(), t.copy()
    right.learn(0, True, 0)
    wrong.learn(0, False, 0)
    assert wrong.known[0] > right.known[0] > t.known[0]
    assert right.p_right(0, 1) > right.p_right(0, 100) >= sim.GUESS
