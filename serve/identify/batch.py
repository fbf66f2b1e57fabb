"""Identify many photos at once, from a terminal.

    python -m serve.predict PATH [PATH ...] [--model data/models/current] [--out results.csv]
                            [--format csv|json] [--batch-size 16] [--catalogue DIR] [--quiet]

PATH: photo files, folders (walked recursively, sorted; hidden files and folders and
`__MACOSX` are ignored) and zip archives (read in memory through
`species_data.zipimport`, never unpacked to disk; a file is a zip by its `.zip`
extension or its first bytes). Every other file is given to the decoder, which
decides by content, so `IMG_0001` without an extension works and `notes.txt` gets
an error row.

Output: one row per file (per member for an archive) with the columns in `COLUMNS`:
`top5` is JSON `[[label, probability], ...]` in CSV and a list in JSON; `error` says
why a file could not be identified (the run goes on). CSV is UTF-8 with a byte-order
mark, so spreadsheet programs show accents, and a cell that starts like a formula
(`=`, `+`, `-`, `@`) is prefixed with `'`. The file is written only when the run is
complete (write to a temporary file, then rename); `--out -` writes to stdout.

Progress goes to stderr (tqdm), then a one-line summary.
Exit status: 0 when at least one photo was identified, 1 when nothing could be read,
2 bad usage (no model bundle, unknown option).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from species_data.atomic import write_text_atomic
from species_data.images import ImageSource
from species_data.zipimport import ZipImportError, is_zip, iter_zip_images

from serve.csv_safe import csv_text

DEFAULT_MODEL = "data/models/current"
DEFAULT_OVERLAY = Path("data/catalogue")
COLUMNS = ("path", "label", "confidence", "decision", "group", "cites_appendix", "top5", "error",
           "ood_score", "sha256", "model_version")
_IGNORED_NAMES = ("__MACOSX", "Thumbs.db", "desktop.ini")


@dataclass(frozen=True)
class Row:
    path: str
    label: str = ""  # the species, when identified
    confidence: float | None = None
    decision: str = ""  # identified | group | cannot_rule_out | unknown ("" on error)
    group: str = ""
    cites_appendix: str = ""  # I, II, III or none; for a group the strictest of its members, for
    # cannot_rule_out the strictest of the protected classes not ruled out
    top5: tuple[tuple[str, float], ...] = ()
    error: str = ""
    ood_score: float | None = None
    sha256: str = ""
    model_version: str = ""


@dataclass(frozen=True)
class Photo:
    """A photo waiting for the model: the path shown in the results and what to decode."""

    path: str
    source: ImageSource


Item = Photo | Row  # a Row here is an error row decided before the model runs


def display(path: str | Path) -> str:
    """A path as text that any output can carry: undecodable bytes and control characters
    replaced, whatever the file system allowed in the name."""
    text = os.fsencode(path).decode("utf-8", "replace")
    return re.sub(r"[\x00-\x1f\x7f]", "?", text)


def walk(paths: Sequence[str | Path]) -> list[Path | Row]:
    """Files to read, in order; a PATH that does not exist becomes an error row."""
    found: list[Path | Row] = []
    for given in map(Path, paths):
        if given.is_dir():
            def unreadable(err: OSError) -> None:
                found.append(Row(display(err.filename), error=f"folder cannot be read ({err.strerror or err})"))

            for root, dirs, files in os.walk(given, onerror=unreadable):  # symlinked folders are not followed
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _IGNORED_NAMES)
                found.extend(Path(root, f) for f in sorted(files)
                             if not f.startswith(".") and f not in _IGNORED_NAMES)
        elif given.exists() or given.is_symlink():
            found.append(given)
        else:
            found.append(Row(display(given), error="does not exist; check the path"))
    return found


def items(found: Iterable[Path | Row]) -> Iterator[Item]:
    """Photos and early error rows, archives expanded member by member."""
    for entry in found:
        if isinstance(entry, Row):
            yield entry
        elif is_zip(entry):
            yield from _archive_items(entry)
        else:
            yield Photo(display(entry), entry)


def _archive_items(path: Path) -> Iterator[Item]:
    shown = display(path)
    skipped: list[Row] = []
    count = 0

    def on_skip(name: str, why: str) -> None:
        skipped.append(Row(f"{shown}/{name}", error=f"skipped: {why}"))

    members = iter_zip_images(path, name=shown, on_skip=on_skip)
    try:
        for name, data in members:
            yield from skipped
            count += len(skipped) + 1
            skipped.clear()
            yield Photo(f"{shown}/{name}", data)
    except ZipImportError as err:
        yield from skipped
        yield Row(shown, error=f"archive refused: {err.reason}")
        return
    count += len(skipped)
    yield from skipped
    if not count:
        yield Row(shown, error="archive holds no photos")


class Identifier:
    """Predictor results -> rows, with the catalogue's CITES appendix."""

    def __init__(self, predictor, catalogue):
        self.predictor = predictor
        self._groups = predictor.bundle.meta.groups
        self._species = {label: entry.appendix for label in predictor.labels
                         if (entry := catalogue.get(label)) is not None}

    def _strictest(self, labels) -> str:
        from serve.identify.decisions import strictest_appendix

        return strictest_appendix(self._species[lb] for lb in labels if lb in self._species).value

    def row(self, path: str, result) -> Row:
        from serve.identify.decisions import DecisionKind
        from serve.identify.predictor import Failure

        if isinstance(result, Failure):
            return Row(path, error=result.reason)
        d = result.decision
        if d.kind is DecisionKind.IDENTIFIED:
            cites = self._species[d.label].value if d.label in self._species else ""
        elif d.kind is DecisionKind.GROUP:
            cites = self._strictest(lb for lb, g in self._groups.items() if g == d.group)
        elif d.kind is DecisionKind.CANNOT_RULE_OUT:  # the suspected protected classes
            cites = self._strictest(d.suspected)
        else:
            cites = ""
        return Row(path, d.label or "", round(float(d.confidence), 6), d.kind.value, d.group or "", cites,
                   tuple((label, round(float(p), 6)) for label, p in result.top[:5]), "",
                   round(float(result.ood_score), 6), result.sha256, result.model_version)

    def run(self, work: Iterable[Item], batch_size: int = 16,
            advance: Callable[[int], None] = lambda n: None) -> Iterator[Row]:
        """Rows in input order; photos go to the model `batch_size` at a time."""
        buffer: list[Item] = []

        def flush() -> Iterator[Row]:
            photos = [x for x in buffer if isinstance(x, Photo)]
            results = iter(self._identify(photos))
            for x in buffer:
                yield self.row(x.path, next(results)) if isinstance(x, Photo) else x
            advance(len(buffer))
            buffer.clear()

        pending = 0
        for item in work:
            buffer.append(item)
            pending += isinstance(item, Photo)
            if pending >= batch_size:
                yield from flush()
                pending = 0
        yield from flush()

    def _identify(self, photos: list[Photo]) -> list:
        from serve.identify.predictor import Failure

        if not photos:
            return []
        try:
            return self.predictor.identify_many([(p.path, p.source) for p in photos], batch_size=len(photos))
        except Exception:  # noqa: BLE001 - one odd file must not end the run: retry one by one
            results = []
            for p in photos:
                try:
                    results.append(self.predictor.identify_many([(p.path, p.source)], batch_size=1)[0])
                except Exception as err:  # noqa: BLE001
                    results.append(Failure(p.path, f"could not be identified ({type(err).__name__}: {err})"))
            return results


def to_csv(rows: Sequence[Row]) -> str:
    table = []
    for r in rows:
        values = asdict(r)
        values["top5"] = json.dumps([list(x) for x in r.top5], ensure_ascii=False) if r.top5 else ""
        table.append([values[c] for c in COLUMNS])
    return csv_text(COLUMNS, table, lineterminator="\n")


def to_json(rows: Sequence[Row]) -> str:
    return json.dumps([{c: (list(map(list, r.top5)) if c == "top5" else getattr(r, c)) for c in COLUMNS}
                       for r in rows], ensure_ascii=False, indent=1) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m serve.predict",
                                description="Identify photos, folders and zip archives; one result row per file.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="photo, folder (recursive) or .zip archive")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model bundle folder (default {DEFAULT_MODEL})")
    p.add_argument("--out", default="-", help="results file (default: standard output)")
    p.add_argument("--format", choices=("csv", "json"), help="default: from the --out extension, else csv")
    p.add_argument("--batch-size", type=int, default=16, help="photos per model call (default 16)")
    p.add_argument("--catalogue", action="append", type=Path, default=None,
                   help=f"catalogue overlay folder(s) after the packaged one (default {DEFAULT_OVERLAY} if present)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # argparse printed the usage already
        return int(e.code or 0)
    if args.batch_size < 1:
        print(f"--batch-size must be at least 1, got {args.batch_size}", file=sys.stderr)
        return 2
    fmt = args.format or ("json" if args.out.lower().endswith(".json") else "csv")
    from species_data import PACKAGED_DIR, load_catalogue
    from tqdm import tqdm

    from serve.identify.predictor import Predictor

    try:
        predictor = Predictor.load(args.model)
    except (FileNotFoundError, ValueError, OSError) as err:
        print(f"cannot load the model bundle {args.model!r}: {err}", file=sys.stderr)
        return 2
    overlays = args.catalogue
    if overlays is None:
        overlays = [DEFAULT_OVERLAY] if DEFAULT_OVERLAY.is_dir() else []
    catalogue = load_catalogue(PACKAGED_DIR, *overlays)
    found = walk(args.paths)
    with tqdm(total=len(found), unit="file", file=sys.stderr, disable=args.quiet, dynamic_ncols=True) as bar:
        def advance(n: int) -> None:
            if bar.n + n > bar.total:
                bar.total = bar.n + n  # archives hold more than one photo
            bar.update(n)

        rows = list(Identifier(predictor, catalogue).run(items(found), args.batch_size, advance))
    text = to_json(rows) if fmt == "json" else to_csv(rows)
    if args.out == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_text_atomic(Path(args.out), text, "utf-8-sig" if fmt == "csv" else "utf-8", newline="")
    counts = Counter(r.decision or "error" for r in rows)
    read = len(rows) - counts["error"]
    print(f"{len(rows)} files: {counts['identified']} identified, {counts['group']} group only, "
          f"{counts['cannot_rule_out']} cannot rule out a protected item, "
          f"{counts['unknown']} unknown (refer to an expert), {counts['error']} not readable"
          + ("" if args.out == "-" else f" -> {args.out}"), file=sys.stderr)
    if not read:
        print("nothing could be read; see the error column", file=sys.stderr)
    return 0 if read else 1


if __name__ == "__main__":
    sys.exit(main())
