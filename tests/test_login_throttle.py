"""The sign-in throttle's arithmetic (serve.login_throttle), on a clock the test moves."""
from __future__ import annotations

import pytest

from serve.login_throttle import LoginThrottle, Policy

NAME = Policy(free=3, limit=6, base_delay=1.0, max_delay=4.0, lock_s=60.0, window_s=900.0)
ADDRESS = Policy(free=5, limit=10, base_delay=1.0, max_delay=4.0, lock_s=60.0, window_s=900.0)


def fail(throttle: LoginThrottle, user: str, address: str, now: float):
    decision = throttle.admit(user, address, now)
    if not decision.refused:
        throttle.done(decision, False, now + decision.wait)
    return decision


def test_the_first_failures_are_free_then_delays_double_up_to_a_cap():
    throttle = LoginThrottle(NAME, ADDRESS)
    waits = [fail(throttle, "olga", f"10.0.0.{i}", 0.0).wait for i in range(3)]
    assert waits == [0.0, 0.0, 0.0]
    now, seen = 0.0, []
    for i in range(3):  # failures 3, 4, 5: waits of 1, 2, 4 s after the last failure
        decision = fail(throttle, "olga", f"10.0.1.{i}", now)
        seen.append(decision.wait)
        now += decision.wait
    assert seen == [1.0, 2.0, 4.0]
    assert NAME.delay(20) == 4.0  # capped


def test_beyond_the_limit_every_attempt_gets_429_until_the_lock_lifts():
    throttle = LoginThrottle(NAME, ADDRESS)
    now = 0.0
    for i in range(6):
        decision = fail(throttle, "olga", f"10.0.0.{i}", now)
        now += decision.wait
    locked = throttle.admit("olga", "192.168.1.9", now + 1)  # the real user, elsewhere
    assert locked.refused and 58 <= locked.retry_after <= 60 and locked.locked_now
    again = throttle.admit("olga", "192.168.1.9", now + 2)
    assert again.refused and not again.locked_now  # one audit row per lock, not per attempt
    after = throttle.admit("olga", "192.168.1.9", now + 61)  # the burst ended a minute ago
    assert not after.refused
    throttle.done(after, True, now + 61)
    assert throttle.admit("olga", "192.168.1.9", now + 62).wait == 0.0  # success cleared it


def test_parallel_attempts_past_the_free_ones_are_refused_at_once():
    throttle = LoginThrottle(NAME, ADDRESS)
    first = [throttle.admit("olga", "10.0.0.1", 0.0) for _ in range(5)]
    assert [d.refused for d in first] == [False, False, False, True, True]
    for d in first[:3]:
        throttle.done(d, False, 0.0)
    one = throttle.admit("olga", "10.0.0.1", 0.5)
    assert not one.refused and one.wait == pytest.approx(0.5)
    assert throttle.admit("olga", "10.0.0.1", 0.5).refused  # one at a time now


def test_the_address_is_throttled_across_user_names():
    throttle = LoginThrottle(NAME, ADDRESS)
    now = 0.0
    for i in range(10):
        decision = fail(throttle, f"user{i}", "10.9.9.9", now)
        assert not decision.refused
        now += decision.wait
    assert throttle.admit("someone", "10.9.9.9", now).refused
    assert not throttle.admit("someone", "10.9.9.8", now).refused  # another address is fine


def test_a_success_clears_the_name_but_not_the_address():
    throttle = LoginThrottle(NAME, ADDRESS)
    for i in range(5):
        fail(throttle, f"guess{i}", "10.1.1.1", 0.0)
    ok = throttle.admit("mallory", "10.1.1.1", 0.0)
    throttle.done(ok, True, 0.0)
    assert throttle.admit("guess9", "10.1.1.1", 0.0).wait == 1.0  # the address still counts 5


def test_old_failures_are_forgotten_and_names_compare_case_insensitively():
    throttle = LoginThrottle(NAME, ADDRESS)
    for i in range(3):
        fail(throttle, "Olga ", f"10.0.0.{i}", 0.0)
    waiting = throttle.admit("olga", "10.0.0.9", 0.0)
    assert waiting.wait == 1.0
    throttle.done(waiting, None, 0.0)  # not checked after all (the client went away)
    later = throttle.admit("OLGA", "10.0.0.8", 1000.0)
    assert not later.refused and later.wait == 0.0


def test_a_policy_refuses_impossible_settings():
    with pytest.raises(ValueError, match="free < limit"):
        Policy(free=5, limit=5)
