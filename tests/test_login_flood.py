"""bench/login_flood.py in its short form (issue 14 item 4): wrong passwords flood /login of
a real `python -m serve` (production bcrypt cost) while a signed-in officer identifies.

Before the fix each bcrypt check ran in Gradio's event loop: the officer's identify p95
went from ~0.1 s to 11 s (18 s on this shared machine), no attempt was ever refused and
nothing was audited. The target is p95 <= 2 s; on a machine other work already slows
down, the bound is twice the officer's own p95 measured just before the flood, if higher.
That a real user signs in once a burst ends is tested with a short lock in
tests/test_security.py (the default lock lifts after a minute; the full benchmark waits it out)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.app


def test_a_login_flood_is_throttled_audited_and_does_not_stall_identify(model_bundle, photos_root, capsys):
    from bench import login_flood
    from bench.load_test import percentile

    result = login_flood.main(["--attackers", "6", "--seconds", "8", "--no-wait",
                               "--bundle", str(model_bundle), "--photos", str(photos_root)])
    assert capsys.readouterr().out.strip().startswith("login flood: attempts ")
    assert result.identify_errors == 0 and len(result.identify_s) >= 2
    assert result.statuses.get(429, 0) > 0  # refused beyond the limit
    assert set(result.statuses) <= {400, 429}  # nothing else: no 5xx, no dropped connections
    assert result.audit_rows > 0 and result.audit_rows == result.statuses.get(400, 0)
    p95, before = percentile(result.identify_s, 95), percentile(result.baseline_s, 95)
    assert p95 <= max(2.0, 2 * before), f"identify p95 {p95:.2f} s during the flood, {before:.2f} s before"
