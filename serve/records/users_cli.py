"""Manage user accounts from a terminal (wired as `python -m serve users ...`).

    python -m serve users add NAME --role ROLE [--language xx]   # password on stdin
    python -m serve users reset NAME                              # new password on stdin
    python -m serve users list
    --db URL   the records database (default sqlite:///data/records.db)

Passwords are read from standard input, first line only, so they never appear in the
process list or shell history: `printf '%s\\n' "$PW" | python -m serve users add ana
--role officer`. At a terminal the password is asked for twice, without echo.
Exit status: 0 done, 1 refused (weak password, user exists/missing), 2 bad usage.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Sequence

from serve.records.auth import Role, WeakPassword, validate_password
from serve.records.store import AlreadyExists, NotFound, Store

DEFAULT_DB = "sqlite:///data/records.db"


def _read_password(prompt: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat: ") != first:
            raise WeakPassword("the two passwords differ; nothing was changed")
        return validate_password(first)
    line = sys.stdin.readline()
    return validate_password(line.rstrip("\r\n"))


def _parser() -> argparse.ArgumentParser:
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", default=argparse.SUPPRESS,
                    help=f"records database URL (default {DEFAULT_DB})")
    p = argparse.ArgumentParser(prog="python -m serve users", parents=[db],
                                description="Manage user accounts.")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", parents=[db], help="add a user (password on stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--language", default="en", help="interface language code (default en)")
    reset = sub.add_parser("reset", parents=[db], help="set a new password (from stdin)")
    reset.add_argument("name")
    sub.add_parser("list", parents=[db], help="list users")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["users"]:
        args_in = args_in[1:]
    try:
        args = _parser().parse_args(args_in)
    except SystemExit as e:  # argparse already printed the usage message
        return int(e.code or 0)
    url = getattr(args, "db", DEFAULT_DB)
    try:
        with Store.open(url) as store:
            if args.command == "list":
                for u in store.list_users():
                    weak = "\tWEAK PASSWORD" if u.weak_password else ""
                    print(f"{u.name}\t{u.role.value}\t{u.language}\t"
                          f"{u.created_at:%Y-%m-%d %H:%M}Z{weak}")
                return 0
            if args.command == "add":
                password = _read_password(f"Password for new user {args.name}: ")
                user = store.add_user(args.name, args.role, password, args.language)
                store.audit("cli", "user.add", {"name": user.name, "role": user.role.value})
                print(f"added {user.name} ({user.role.value})")
            else:
                if store.get_user(args.name) is None:
                    raise NotFound(f"no user named {args.name!r}; see `users list`")
                password = _read_password(f"New password for {args.name}: ")
                store.set_password(args.name, password)
                store.audit("cli", "user.reset_password", {"name": args.name})
                print(f"password changed for {args.name}")
            if store.get_user(args.name).weak_password:
                print("warning: this password is a well-known default; choose a stronger one",
                      file=sys.stderr)
            return 0
    except (WeakPassword, AlreadyExists, NotFound, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
