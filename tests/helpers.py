"""Small helpers shared by the tests that start servers or processes."""
from __future__ import annotations

import socket


def password(name: str) -> str:
    """The test password of user `name` (long enough for the password rules)."""
    return f"pw-{name}-long-enough"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
