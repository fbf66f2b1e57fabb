"""Export seizure records from a terminal (wired as `python -m serve seizures ...`).

    python -m serve seizures export --format csv|json --out FILE
        [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--country CC] [--officer NAME]
        [--db URL] [--data-dir data]

Columns and values: docs/seizure_schema.md. `--from`/`--to` are seizure dates (both
included); `--country` is where the goods were seized (ISO 3166-1 alpha-2). Whoever can
run this can read the database itself, so it exports every case; `--officer` narrows it
to one officer's. In the app, officers export their own cases from History, analysts and
admins everyone's. The output file is written whole or not at all.
Exit status: 0 written, 1 refused (bad filter value, unreadable database), 2 bad usage.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from species_data import PACKAGED_DIR, load_catalogue
from species_data.atomic import write_text_atomic

from serve.records.errors import RecordError
from serve.records.export import cases_csv, cases_json
from serve.records.seizure import parse_country, parse_day
from serve.records.store import Store


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m serve seizures",
                                description="Export seizure records (docs/seizure_schema.md).")
    sub = p.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write the seizure records to a CSV or JSON file")
    ex.add_argument("--format", required=True, choices=("csv", "json"))
    ex.add_argument("--out", required=True, type=Path, help="file to write")
    ex.add_argument("--from", dest="seized_from", help="first seizure date, YYYY-MM-DD")
    ex.add_argument("--to", dest="seized_to", help="last seizure date, YYYY-MM-DD")
    ex.add_argument("--country", help="country of seizure, ISO 3166-1 alpha-2 (e.g. KE)")
    ex.add_argument("--officer", help="only this officer's cases")
    ex.add_argument("--data-dir", type=Path, default=Path("data"),
                    help="data folder: records.db and catalogue edits (default ./data)")
    ex.add_argument("--db", help="records database URL (default sqlite:///<data-dir>/records.db)")
    return p


def export(args: argparse.Namespace) -> int:
    seized_from = parse_day(args.seized_from, "--from")
    seized_to = parse_day(args.seized_to, "--to")
    if seized_from and seized_to and seized_from > seized_to:
        raise ValueError(f"--from {seized_from} is after --to {seized_to}; swap them")
    country = parse_country(args.country, "--country")
    if not args.out.parent.is_dir():
        raise ValueError(f"--out {args.out}: folder {args.out.parent} does not exist")
    url = args.db or f"sqlite:///{(args.data_dir / 'records.db').resolve()}"
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        raise ValueError(f"no records database at {url}; pass --db URL or --data-dir DIR")
    catalogue = load_catalogue(PACKAGED_DIR, args.data_dir / "catalogue")
    group_of = lambda entry: getattr(catalogue.get(entry), "group", None)  # noqa: E731
    with Store.open(url) as store:
        cases = store.list_cases(officer=args.officer, country=country, seized_from=seized_from,
                                 seized_to=seized_to, limit=None)
        text = cases_csv(cases, group_of) if args.format == "csv" else cases_json(cases, group_of)
        write_text_atomic(args.out, text)
        store.audit("cli", "seizures.export", {
            "format": args.format, "cases": len(cases), "file": args.out.name,
            "from": args.seized_from, "to": args.seized_to, "country": country,
            "officer": args.officer})
    print(f"wrote {len(cases)} case(s) to {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["seizures"]:
        args_in = args_in[1:]
    try:
        args = _parser().parse_args(args_in)
    except SystemExit as e:  # argparse already printed the usage message
        return int(e.code or 0)
    try:
        return export(args)
    except (RecordError, ValueError, TypeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
