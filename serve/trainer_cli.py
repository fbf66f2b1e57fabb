"""`python -m serve trainer add-photos | quick-update | rollback`: the Trainer tab's
operations that touch the app's records, from the command line (bulk ingestion, scripts).

    python -m serve trainer add-photos --class seahorse --source "NOAA archive" --licence CC-BY-4.0 photos/ sh.zip
    python -m serve trainer quick-update          # published model + uploads - removals -> v<N+1>
    python -m serve trainer rollback v1 --reason "v2 misses seahorses"

They live on the serving side because they read and write the records database and the
photo store exactly as the app does (`serve.photo_intake`); every change is written to the
audit log as user `cli`. Model work that needs no records stays in `python -m train`
(`quick-update --add FOLDER`, `compare`, `publish`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

CLI_USER = "cli"


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m serve trainer", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    add = sub.add_parser("add-photos", help="quality-check photos and add them to the app's photo store")
    add.add_argument("paths", nargs="+", type=Path, help="image files, zip archives or folders of images")
    add.add_argument("--class", dest="class_id", required=True, help="catalogue id the photos show")
    add.add_argument("--source", required=True, help="where the photos come from")
    add.add_argument("--licence", required=True)
    add.add_argument("--credit", default="")
    add.add_argument("--data-dir", type=Path, default=Path("data"))
    add.add_argument("--db", default=None, help="records database URL (default sqlite:///<data-dir>/records.db)")
    add.add_argument("--min-side", type=int, default=96, help="refuse photos smaller than this (px, short side)")
    add.add_argument("--max-distance", type=int, default=6, help="near-duplicate perceptual-hash distance (bits)")
    add.add_argument("--max-files", type=int, default=5000, help="photos in one run, archives' members included")
    add.add_argument("--max-mb", type=int, default=2048, help="megabytes of photos in one run (read in memory)")

    qu = sub.add_parser("quick-update", help="candidate bundle: the published model + the app's uploads - removals")
    qu.add_argument("--base", type=Path, default=None, help="base bundle (default: <data-dir>/models/current)")
    qu.add_argument("--out", type=Path, default=None, help="bundle folder (default: <models>/v<N+1>)")
    qu.add_argument("--data-dir", type=Path, default=Path("data"))
    qu.add_argument("--db", default=None)

    rb = sub.add_parser("rollback", help="publish an earlier version again, with a reason in the audit log")
    rb.add_argument("version")
    rb.add_argument("--data-dir", type=Path, default=Path("data"))
    rb.add_argument("--card-dir", type=Path, default=None, help="also copy its model card here")
    rb.add_argument("--reason", default="")
    rb.add_argument("--db", default=None)
    return parser


def _store(db: str | None, data_dir: Path, create: bool = True):
    """The app's records database, or None when it does not exist and `create` is False."""
    from serve.records.store import Store

    path = Path(data_dir) / "records.db"
    if db is None and not create and not path.exists():
        return None
    return Store.open(db or f"sqlite:///{path.resolve()}")


def add_photos(args) -> int:
    from species_data import PACKAGED_DIR, load_catalogue
    from species_data.ingest import IngestError, IngestLimits, collect
    from species_data.photo_store import PhotoStore
    from species_data.quality import summarise
    from species_data.zipimport import ZipImportError
    from train.bundle import current

    from serve.i18n import t
    from serve.photo_intake import Provenance, add_photos as intake, gate_for

    catalogue = load_catalogue(PACKAGED_DIR, args.data_dir / "catalogue")
    if args.class_id not in catalogue:
        print(f"class {args.class_id!r} has no catalogue entry; add it first (species_data/README.md)", file=sys.stderr)
        return 2
    try:
        batch = collect([(str(p), p) for p in args.paths], IngestLimits(args.max_files, args.max_mb * 2**20))
    except (IngestError, ZipImportError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    store = _store(args.db, args.data_dir)
    gate = gate_for(store, current(args.data_dir / "models"), args.data_dir, args.min_side, args.max_distance)
    verdicts = intake(store, PhotoStore(args.data_dir / "photos"), batch, args.class_id,
                      Provenance(CLI_USER, args.source, args.licence, args.credit), gate)
    for v in verdicts:
        print(f"{v.name}: {t(f'trainer.verdict.{v.code.value}', 'en', **v.message_params())}")
    accepted = sum(v.accepted for v in verdicts)
    print(f"{accepted} of {len(verdicts)} photos added to {args.class_id}: {summarise(verdicts)}")
    return 0


def quick_update_cmd(args) -> int:
    from species_data.dataset import Photo, split_of
    from species_data.photo_store import PhotoStore
    from train.bundle import Bundle
    from train.compare import compare, format_table
    from train.quick_update import QuickUpdateConfig, next_version, quick_update

    store = _store(args.db, args.data_dir, create=False)
    if store is None:
        print(f"no records database under {args.data_dir}; nothing to take from the app", file=sys.stderr)
        return 2
    base = Bundle.load(args.base or args.data_dir / "models" / "current")
    models = base.path.parent
    out = args.out or models / next_version(models)
    files = PhotoStore(args.data_dir / "photos")
    add, remove = [], []
    for p in store.all_photos(include_removed=True):
        if p.removed:
            remove.append(p.sha256)
        elif (path := files.find(p.sha256)) is not None:
            add.append(Photo(path, p.class_id, p.sha256, split_of(p.sha256), p.source or "upload"))
    result = quick_update(QuickUpdateConfig(base=base.path, out=out, add=add, remove=remove, data_dir=args.data_dir,
                                            catalogue_dirs=[args.data_dir / "catalogue"]))
    print(f"wrote {result.bundle.path}: {result.added} photos added, {result.removed} removed, new classes "
          f"{list(result.new_classes) or '-'}, {result.embedded_new} embedded, {result.seconds['total']:.1f} s")
    print(format_table(compare(result.bundle, base, args.data_dir)))
    store.audit(CLI_USER, "trainer_quick_update", {"candidate": result.bundle.meta.version, "base": base.meta.version,
                                                   "added": result.added, "removed": result.removed})
    result.wait()
    return 0


def rollback_cmd(args) -> int:
    from train.bundle import Bundle, current, publish
    from train.card import publish_card

    models = args.data_dir / "models"
    before = current(models)
    bundle = Bundle.load(models / args.version)
    if before is not None and before.meta.version == bundle.meta.version:
        print(f"{args.version} is already the published model", file=sys.stderr)
        return 1
    publish(models, args.version)
    card = publish_card(bundle, args.card_dir) if args.card_dir else None
    store = _store(args.db, args.data_dir, create=False)
    if store is not None:
        store.audit(CLI_USER, "trainer_rollback", {"version": args.version, "reason": args.reason,
                                                   "card": card.name if card else None,
                                                   "previous": before.meta.version if before else None})
    print(f"published {args.version} (was {before.meta.version if before else 'none'})" +
          (f"; card {card}" if card else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = create_parser().parse_args(argv)
    return {"add-photos": add_photos, "quick-update": quick_update_cmd, "rollback": rollback_cmd}[args.command](args)
