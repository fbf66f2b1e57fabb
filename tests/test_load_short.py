"""The load test (bench/load_test.py) in its short form: 6 users for 15 s against a real
server on loopback. No timing is asserted (the machine is shared): only that nothing
failed and that every quiz answer sent was stored in the database."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.app


def test_short_load_has_no_errors_and_stores_every_answer(model_bundle, photos_root, capsys):
    from bench import load_test

    result = load_test.main(["--users", "6", "--seconds", "15", "--bundle", str(model_bundle),
                             "--photos", str(photos_root)])
    out = capsys.readouterr().out
    assert out.strip().splitlines() == [result.line()]  # stdout: exactly the one summary line
    assert result.line().startswith(f"requests {result.requests}, errors 0, p50 ")
    assert result.errors == 0
    assert result.answers_sent > 0 and result.answers_sent == result.answers_stored
    assert result.requests > result.answers_sent  # officers identified photos too
    assert result.ok


def test_percentile_is_nearest_rank():
    from bench.load_test import percentile

    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 95) == 95.0
    assert percentile([3.0], 95) == 3.0 and percentile([], 50) == 0.0
    assert percentile([1.0, 2.0], 50) == 1.0 and percentile([1.0, 2.0], 100) == 2.0
