"""`python -m species_data import-checklist FILE.csv`: update the catalogue's CITES listings from
a Species+ CSV download, after showing what would change.

    python -m species_data import-checklist listings.csv                 # show the diff, ask
    python -m species_data import-checklist listings.csv --yes           # apply without asking
    python -m species_data import-checklist listings.csv --into species_data/catalogue

By default the changes go to the app's catalogue overlay (data/catalogue, where the Trainer
tab saves too), through the atomic save and its edit history (_history.jsonl). Without
--yes and without a terminal to ask on, nothing is written.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import getpass
import sys
import textwrap
from pathlib import Path

DEFAULT_INTO = Path("data") / "catalogue"


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m species_data", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import-checklist", help="update CITES listings from a Species+ CSV download")
    imp.add_argument("file", type=Path, help="the CSV file (Species+ > CITES listings > download)")
    imp.add_argument("--into", type=Path, default=DEFAULT_INTO,
                     help=f"catalogue directory to write (default: {DEFAULT_INTO}, the app's overlay; "
                          "species_data/catalogue to update the packaged entries)")
    imp.add_argument("--yes", action="store_true", help="apply without asking")
    imp.add_argument("--author", default=None, help="name recorded in the edit history (default: your login)")
    imp.add_argument("--date", type=_dt.date.fromisoformat, default=None,
                     help="date of the download, YYYY-MM-DD (default: today)")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return create_parser().parse_args(argv)


def print_diff(diff, out=sys.stdout) -> None:
    from .checklist import Status

    print(f"{'entry':26} {'old':5} {'new':5} {'status':12} note", file=out)
    for c in diff.to_apply:
        note = textwrap.shorten(c.note, 160, placeholder=" ...")
        print(f"{c.entry_id:26} {c.old.value:5} {c.new.value:5} {c.status.value:12} {note}", file=out)
    absent = [c.entry_id for c in diff.changes if not c.applies]
    if absent:
        print(textwrap.fill(f"Listed entries none of whose names is in the file (left as they are): "
                            f"{', '.join(absent)}", 110), file=out)
    shown = ", ".join(diff.unmatched[:10]) + (" ..." if len(diff.unmatched) > 10 else "")
    print(f"\n{diff.rows} rows read; {diff.count(Status.CHANGED)} entries to change, {diff.count(Status.SPLIT)} "
          f"split listings to review, {diff.count(Status.UNCHANGED)} unchanged, "
          f"{diff.count(Status.NOT_IN_FILE)} listed entries not in the file; {len(diff.unmatched)} names "
          f"not in the catalogue{': ' + shown if shown else ''}", file=out)


def import_checklist(args: argparse.Namespace) -> int:
    from . import PACKAGED_DIR, load_catalogue
    from .checklist import ChecklistError, apply_diff, compare, read_checklist

    into = args.into
    base = (PACKAGED_DIR,) if into.resolve() != PACKAGED_DIR.resolve() else ()
    try:
        rows = read_checklist(args.file)
    except (ChecklistError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    catalogue = load_catalogue(*base, into) if base else load_catalogue(into)
    diff = compare(catalogue, rows)
    print_diff(diff)
    todo = diff.to_apply
    if not todo:
        print("Nothing to apply: no catalogue entry matches the file.")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print("Not applied: run again with --yes to apply.")
            return 0
        if input(f"Apply to {len(todo)} entries in {into}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("Not applied.")
            return 0
    author = args.author or getpass.getuser() or "cli"
    written = apply_diff(diff, catalogue, into, author, source=args.file.name, base_dirs=base, today=args.date)
    print(f"Updated {len(written)} entries in {into} (edit history: {into / '_history.jsonl'}).")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "import-checklist":
        return import_checklist(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
