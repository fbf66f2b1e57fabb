"""`python -m train add-photos | quick-update | compare | rollback`: the trainer tab's
operations from the command line, for bulk ingestion and scripted updates.

    python -m train add-photos --class seahorse --source "NOAA archive" --licence CC-BY-4.0 photos/*.jpg sh.zip
    python -m train quick-update --from-store            # published model + uploads - removals -> v<N+1>
    python -m train quick-update --add ../new_photos     # or folders of <class_id>/<image>
    python -m train compare --candidate data/models/v3
    python -m train rollback v1 --reason "v2 misses seahorses"

`add-photos` and `--from-store` use the app's photo store and records database
(`species_data.photo_store`, `serve.records.store`, imported only by these commands); every change
is written to the audit log as user `cli`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COMMANDS = ("add-photos", "quick-update", "compare", "rollback")
CLI_USER = "cli"


def add_subcommands(sub) -> None:
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

    qu = sub.add_parser("quick-update", help="candidate bundle: a base bundle + new photos - removed ones, in seconds")
    qu.add_argument("--base", type=Path, default=Path("data/models/current"))
    qu.add_argument("--out", type=Path, default=None, help="bundle folder (default: <models>/v<N+1>)")
    qu.add_argument("--add", type=Path, action="append", default=[], help="folder of <class_id>/<image> (repeatable)")
    qu.add_argument("--from-store", action="store_true", help="add the app's uploads, leave out its removed photos")
    qu.add_argument("--remove", nargs="*", default=[], help="content hashes (sha256) to leave out")
    qu.add_argument("--data-dir", type=Path, default=Path("data"))
    qu.add_argument("--db", default=None)
    qu.add_argument("--catalogue", type=Path, action="append", default=None,
                    help="catalogue overlay folder (default: <data-dir>/catalogue)")
    qu.add_argument("--card-dir", type=Path, default=None, help="also write a model card here")
    qu.add_argument("--no-gate", action="store_true", help="skip the duplicate / size checks of --add photos")

    cmp = sub.add_parser("compare", help="candidate vs published model on the same photos")
    cmp.add_argument("--candidate", type=Path, required=True)
    cmp.add_argument("--published", type=Path, default=Path("data/models/current"))
    cmp.add_argument("--data-dir", type=Path, default=Path("data"))
    cmp.add_argument("--split", choices=("val", "test"), default="test")
    cmp.add_argument("--tolerance", type=float, default=0.02)
    cmp.add_argument("--json", action="store_true")

    rb = sub.add_parser("rollback", help="publish an earlier version again (and regenerate its model card)")
    rb.add_argument("version")
    rb.add_argument("--models", type=Path, default=Path("data/models"))
    rb.add_argument("--card-dir", type=Path, default=Path("model_cards"))
    rb.add_argument("--reason", default="")
    rb.add_argument("--db", default=None, help="records database for the audit log (default: <models>/../records.db)")


def _store(db: str | None, data_dir: Path, create: bool = True):
    """The app's records database, or None when it does not exist and `create` is False."""
    from serve.records.store import Store

    path = Path(data_dir) / "records.db"
    if db is None and not create and not path.exists():
        return None
    return Store.open(db or f"sqlite:///{path.resolve()}")


def _files(paths) -> list[tuple[str, bytes]]:
    from species_data.images import is_image_name

    items = []
    for path in paths:
        if path.is_dir():
            items += [(str(p), p.read_bytes()) for p in sorted(path.rglob("*")) if p.is_file() and is_image_name(p)]
        elif path.suffix.lower() == ".zip":
            from species_data.zipimport import iter_zip_images

            items += list(iter_zip_images(path, on_skip=lambda n, why: print(f"{path}/{n}: skipped ({why})")))
        else:
            items.append((str(path), path.read_bytes()))
    return items


def _gate(store, base_dir: Path | None, data_dir: Path, min_side: int, max_distance: int):
    from species_data.quality import KnownPhoto, PhashCache, QualityGate, known_from_manifest

    known = [KnownPhoto(p.sha256, p.class_id, p.phash, p.removed) for p in store.all_photos(include_removed=True)] \
        if store is not None else []
    if base_dir is not None and (Path(base_dir) / "bundle.json").exists():
        from .bundle import Bundle

        known += known_from_manifest(Bundle.load(base_dir).manifest(), PhashCache(Path(data_dir) / "phash.json"))
    return QualityGate(known, min_side=min_side, max_distance=max_distance)


def _verdict_line(v) -> str:
    from serve.i18n import t

    return f"{v.name}: {t(f'trainer.verdict.{v.code.value}', 'en', **v.message_params())}"


def add_photos(args) -> int:
    from species_data.photo_store import PhotoStore, sniff_ext
    from species_data import PACKAGED_DIR, load_catalogue
    from species_data.quality import summarise

    catalogue = load_catalogue(PACKAGED_DIR, args.data_dir / "catalogue")
    if args.class_id not in catalogue:
        print(f"class {args.class_id!r} has no catalogue entry; add it first (species_data/README.md)", file=sys.stderr)
        return 2
    store = _store(args.db, args.data_dir)
    photos = PhotoStore(args.data_dir / "photos")
    gate = _gate(store, args.data_dir / "models" / "current", args.data_dir, args.min_side, args.max_distance)
    verdicts = []
    for name, data in _files(args.paths):
        v = gate.admit(name, data, args.class_id)
        if v.accepted:
            sha = photos.put(data)
            store.add_photo(sha256=sha, class_id=args.class_id, ext=sniff_ext(data) or "jpg", width=v.width,
                            height=v.height, phash=v.phash, uploader=CLI_USER, source=args.source,
                            licence=args.licence, credit=args.credit)
        verdicts.append(v)
        print(_verdict_line(v))
    accepted = [v.sha256 for v in verdicts if v.accepted]
    store.audit(CLI_USER, "trainer_upload", {"class_id": args.class_id, "accepted": accepted,
                                             "verdicts": summarise(verdicts), "source": args.source,
                                             "licence": args.licence})
    print(f"{len(accepted)} of {len(verdicts)} photos added to {args.class_id}: {summarise(verdicts)}")
    return 0


def quick_update_cmd(args) -> int:
    from species_data.dataset import Photo, scan, split_of

    from .bundle import Bundle
    from .compare import compare, format_table
    from .quick_update import QuickUpdateConfig, next_version, quick_update

    base = Bundle.load(args.base)
    models = Path(args.base).parent
    out = args.out or models / next_version(models)
    add, remove = [], list(args.remove)
    store = _store(args.db, args.data_dir, create=False) if args.from_store or args.add else None
    if args.from_store:
        if store is None:
            print(f"no records database under {args.data_dir}; nothing to take from the store", file=sys.stderr)
            return 2
        from species_data.photo_store import PhotoStore

        files = PhotoStore(args.data_dir / "photos")
        for p in store.all_photos(include_removed=True):
            if p.removed:
                remove.append(p.sha256)
            elif (path := files.find(p.sha256)) is not None:
                add.append(Photo(path, p.class_id, p.sha256, split_of(p.sha256), p.source or "upload"))
    if args.add:
        gate = None if args.no_gate else _gate(store, args.base, args.data_dir, 96, 6)
        for photo in scan(args.add).photos:
            if gate is not None:
                v = gate.admit(str(photo.path), photo.path, photo.label)
                if not v.accepted:
                    print(_verdict_line(v))
                    continue
            add.append(photo)
    catalogues = args.catalogue if args.catalogue is not None else [args.data_dir / "catalogue"]
    result = quick_update(QuickUpdateConfig(base=base.path, out=out, add=add, remove=remove, data_dir=args.data_dir,
                                            catalogue_dirs=catalogues, card_dir=args.card_dir))
    print(f"wrote {result.bundle.path}: {result.added} photos added, {result.removed} removed, new classes "
          f"{list(result.new_classes) or '-'}, {result.embedded_new} embedded, {result.seconds['total']:.1f} s")
    print(format_table(compare(result.bundle, base, args.data_dir)))
    if store is not None:
        store.audit(CLI_USER, "trainer_quick_update", {"candidate": result.bundle.meta.version,
                                                       "base": base.meta.version, "added": result.added,
                                                       "removed": result.removed})
    result.wait()
    return 0


def compare_cmd(args) -> int:
    from .bundle import Bundle
    from .compare import compare, format_table

    c = compare(Bundle.load(args.candidate), Bundle.load(args.published), args.data_dir, args.split, args.tolerance)
    print(json.dumps(c.to_dict(), indent=1) if args.json else format_table(c))
    return 0


def rollback_cmd(args) -> int:
    from .bundle import Bundle, current, publish
    from .card import write_card

    before = current(args.models)
    bundle = Bundle.load(args.models / args.version)
    if before is not None and before.meta.version == bundle.meta.version:
        print(f"{args.version} is already the published model", file=sys.stderr)
        return 1
    publish(args.models, args.version)
    card = write_card(bundle, args.card_dir)
    store = _store(args.db, args.models.parent, create=False)
    if store is not None:
        store.audit(CLI_USER, "trainer_rollback", {"version": args.version, "reason": args.reason, "card": card.name,
                                                   "previous": before.meta.version if before else None})
    print(f"published {args.version} (was {before.meta.version if before else 'none'}); card {card}")
    return 0


def run(args: argparse.Namespace) -> int:
    return {"add-photos": add_photos, "quick-update": quick_update_cmd, "compare": compare_cmd,
            "rollback": rollback_cmd}[args.command](args)
