"""Throttling of failed sign-ins, per user name and per client address (pure logic).

Why: every password check costs a bcrypt hash (~0.25 s of CPU at cost 12), and an
attacker guessing passwords sends as many as the server will take. So failures are
counted per key (the user name tried, and the client's address), and each key gets:

- `free` failed attempts at full speed (people mistype);
- then one attempt at a time, each admitted only after a delay that doubles with every
  further failure (`base_delay` x 2^k, at most `max_delay`); an attempt that arrives while
  another for the same key is being checked is refused at once;
- from `limit` failures on, a lock: every attempt is refused with HTTP 429 until
  `lock_s` after the last failure. Refused attempts are not checked and do not count,
  so once an attacker's burst ends the real user can sign in again within `lock_s`.

A success clears the user name's count (not the address's: one account of the
attacker's own must not reset their guessing elsewhere). Counts older than `window_s`
are forgotten. The app (`serve.http_guard`) asks `admit()` before checking a password
and reports the outcome with `done()`; this module only does the arithmetic, with the
clock passed in, so its tests are instant.

    throttle = LoginThrottle()
    decision = throttle.admit("olga", "10.0.0.7", now)
    if decision.refused: answer 429 with Retry-After: decision.retry_after
    else: sleep decision.wait, check the password, then throttle.done(decision, ok, now)
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Policy:
    free: int
    limit: int
    base_delay: float = 0.5
    max_delay: float = 8.0
    lock_s: float = 60.0
    window_s: float = 15 * 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.free < self.limit:
            raise ValueError(f"need 0 <= free < limit, got free={self.free}, limit={self.limit}")
        if self.base_delay < 0 or self.max_delay < self.base_delay or self.lock_s <= 0 or self.window_s <= 0:
            raise ValueError("delays must satisfy 0 <= base_delay <= max_delay; lock_s and window_s > 0")

    def delay(self, failures: int) -> float:
        """How long after the last failure the next attempt may be checked."""
        if failures < self.free:
            return 0.0
        return min(self.base_delay * 2 ** (failures - self.free), self.max_delay)


# A person mistypes a few times; an office behind one address holds many people.
NAME_POLICY = Policy(free=3, limit=10)
ADDRESS_POLICY = Policy(free=20, limit=60)


@dataclass
class _Count:
    failures: int = 0
    last_failure: float = float("-inf")
    in_flight: int = 0


@dataclass(frozen=True)
class Decision:
    refused: bool
    wait: float = 0.0  # seconds to hold the attempt before checking (admitted only)
    retry_after: float = 0.0  # seconds to tell the client (refused only)
    keys: tuple[tuple[str, str], ...] = ()
    locked_now: bool = False  # this refusal is the first of a lock (worth one audit row)


@dataclass
class LoginThrottle:
    name_policy: Policy = NAME_POLICY
    address_policy: Policy = ADDRESS_POLICY
    _counts: dict[tuple[str, str], _Count] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _announced: set[tuple[str, str, float]] = field(default_factory=set)

    def _policy(self, key: tuple[str, str]) -> Policy:
        return self.name_policy if key[0] == "name" else self.address_policy

    def _count(self, key: tuple[str, str], now: float) -> _Count:
        count = self._counts.setdefault(key, _Count())
        if count.in_flight == 0 and now - count.last_failure > self._policy(key).window_s:
            count.failures, count.last_failure = 0, float("-inf")
        return count

    @staticmethod
    def keys(user: str, address: str) -> tuple[tuple[str, str], ...]:
        return (("name", (user or "").strip().casefold()[:256]), ("address", address or "?"))

    def admit(self, user: str, address: str, now: float) -> Decision:
        """May this attempt be checked (after `wait` seconds), or must it be refused?"""
        keys = self.keys(user, address)
        with self._lock:
            waits, refusals = [], []
            for key in keys:
                policy, count = self._policy(key), self._count(key, now)
                if count.failures >= policy.limit and now < count.last_failure + policy.lock_s:
                    refusals.append((count.last_failure + policy.lock_s - now, key, count.last_failure))
                elif count.failures + count.in_flight < policy.free:
                    waits.append(0.0)
                elif count.in_flight == 0:
                    waits.append(max(0.0, count.last_failure + policy.delay(count.failures) - now))
                else:  # one attempt at a time once past the free ones
                    refusals.append((max(policy.delay(count.failures), 1.0), key, None))
            if refusals:
                retry, key, locked_since = max(refusals, key=lambda r: r[0])
                first = locked_since is not None and (key[0], key[1], locked_since) not in self._announced
                if first:
                    self._announced.add((key[0], key[1], locked_since))
                return Decision(True, retry_after=retry, keys=keys, locked_now=first)
            for key in keys:
                self._counts[key].in_flight += 1
            return Decision(False, wait=max(waits), keys=keys)

    def done(self, decision: Decision, ok: bool | None, now: float) -> None:
        """Report the outcome of an admitted attempt (None: not checked after all)."""
        if decision.refused:
            return
        with self._lock:
            for key in decision.keys:
                count = self._counts.setdefault(key, _Count())
                count.in_flight = max(0, count.in_flight - 1)
                if ok is False:
                    count.failures += 1
                    count.last_failure = now
                elif ok and key[0] == "name":
                    count.failures, count.last_failure = 0, float("-inf")
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        """Drop counts nobody needs any more (bounded memory under a flood of names)."""
        if len(self._counts) < 10_000:
            return
        for key in [k for k, c in self._counts.items()
                    if c.in_flight == 0 and now - c.last_failure > self._policy(k).window_s]:
            del self._counts[key]
        self._announced = {a for a in self._announced if now - a[2] <= self.address_policy.window_s}
