"""`python -m serve`: start the app; `python -m serve users | seizures | trainer ...`: accounts,
seizure exports, trainer photos and updates.

    python -m serve [--host 127.0.0.1] [--port 7860] [--data-dir data] [--photos DIR ...]
                    [--db postgresql://user@host/db]
    python -m serve users add NAME --role officer      # see serve/records/users_cli.py
    python -m serve seizures export --format csv --out F  # see serve/records/seizures_cli.py
    python -m serve trainer add-photos --class ID ...  # see serve/trainer_cli.py

Several processes (behind a load balancer) may share one PostgreSQL database with `--db`;
each keeps its own model files and needs the same photo store (`--data-dir` on shared
storage). See the README's "Several app processes" section.

First start with no user at all: on a loopback address a demo set of users (admin,
trainer, officer, trainee) is created with random passwords, printed once. On a
network address the app refuses to start without users, and refuses while an admin
password is empty or a well-known default (`auth.check_bind_safety`).
"""
from __future__ import annotations

import argparse
import secrets
import sys
import threading
from pathlib import Path
from typing import Sequence

from serve.records.auth import Role, UnsafeBind, check_bind_safety, is_loopback
from serve.records.errors import RecordError
from serve.context import DEFAULT_PHOTOS, AppConfig, AppContext

DEMO_USERS = (("admin", Role.ADMIN), ("trainer", Role.TRAINER), ("officer", Role.OFFICER),
              ("trainee", Role.TRAINEE))


class NoUsers(RuntimeError):
    """No account exists and the app is not on loopback: nobody could sign in safely."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m serve", description=(
        "Serve the wildlife identification app. `python -m serve users --help` manages accounts; "
        "`python -m serve trainer --help` adds photos and updates the model from the app's records."))
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--data-dir", type=Path, default=Path("data"),
                   help="models, records database and photo store (default ./data)")
    p.add_argument("--photos", type=Path, action="append", default=None,
                   help=f"reference photo folder <class_id>/<image> (repeatable; default {DEFAULT_PHOTOS})")
    p.add_argument("--db", default=None, metavar="URL",
                   help="records database (default sqlite:///<data-dir>/records.db; "
                        "postgresql://user:password@host:5432/name for several processes)")
    return p


def prepare_users(ctx: AppContext, host: str, out=sys.stdout) -> list[tuple[str, str, Role]]:
    """Demo users on an empty database when on loopback; otherwise the bind-safety checks.
    Returns the demo accounts created (name, password, role), if any."""
    store = ctx.store
    created: list[tuple[str, str, Role]] = []
    if not store.list_users():
        if not is_loopback(host):
            raise NoUsers(
                f"no user accounts exist, so nobody could sign in on {host!r}. Create an admin "
                "first: python -m serve users add admin --role admin (password on stdin), "
                "or start on 127.0.0.1 to get demo accounts.")
        for name, role in DEMO_USERS:
            password = secrets.token_urlsafe(12)
            store.add_user(name, role, password)
            created.append((name, password, role))
        store.audit("serve", "users.demo_created", {"names": [n for n, _, _ in created]})
        print("No users yet: demo accounts created (this computer only). Write the passwords "
              "down now; they are not shown again:", file=out)
        for name, password, role in created:
            print(f"  {name:<8} {role.value:<8} {password}", file=out)
    check_bind_safety(host, store.admin_password_is_default_or_empty())
    return created


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["users"]:
        from serve.records.users_cli import main as users_main

        return users_main(args_in[1:])
    if args_in[:1] == ["seizures"]:
        from serve.records.seizures_cli import main as seizures_main

        return seizures_main(args_in[1:])
    if args_in[:1] == ["trainer"]:
        from serve.trainer_cli import main as trainer_main

        return trainer_main(args_in[1:])
    args = _parser().parse_args(args_in)
    config = AppConfig(data_dir=args.data_dir, host=args.host, port=args.port, db_url=args.db,
                       photo_roots=tuple(args.photos) if args.photos else (DEFAULT_PHOTOS,))
    ctx = AppContext(config)
    try:
        prepare_users(ctx, args.host)
    except (UnsafeBind, NoUsers, RecordError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from serve.app import build_app, launch

    demo = build_app(ctx)
    threading.Thread(target=warm_up, args=(ctx,), name="warm-up", daemon=True).start()
    from serve.auto_finetune import AutoFinetune

    AutoFinetune(ctx).watch()  # starts a background fine-tune when due, publishes only a winner
    launch(demo, ctx)
    return 0


def warm_up(ctx: AppContext) -> None:
    """Load the model, the quiz photos and the heat-map head in the background, so the
    first officer does not wait for them. Failures are left to the first request to report."""
    try:
        from serve.identify.heatmap import HeatMapper

        predictor = ctx.predictor()
        ctx.quiz.pool()
        HeatMapper.for_predictor(predictor)
    except Exception as exc:  # noqa: BLE001 - the app still serves; requests report the error
        print(f"warning: could not preload the model ({exc})", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
