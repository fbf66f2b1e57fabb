"""`python -m train quick-update | compare`: a trainer's model updates from the command line.

    python -m train quick-update --add ../new_photos     # folders of <class_id>/<image>
    python -m train quick-update --remove <sha256> ...   # leave photos out
    python -m train compare --candidate data/models/v3

Nothing here touches the app's records: new photos come as folders (gated against the
base model's own photos), and the commands that read or write the records database
(uploads, removals, audited roll-backs) are `python -m serve trainer ...`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

COMMANDS = ("quick-update", "compare")


def add_subcommands(sub) -> None:
    qu = sub.add_parser("quick-update", help="candidate bundle: a base bundle + new photos - removed ones, in seconds")
    qu.add_argument("--base", type=Path, default=Path("data/models/current"))
    qu.add_argument("--out", type=Path, default=None, help="bundle folder (default: <models>/v<N+1>)")
    qu.add_argument("--add", type=Path, action="append", default=[], help="folder of <class_id>/<image> (repeatable)")
    qu.add_argument("--remove", nargs="*", default=[], help="content hashes (sha256) to leave out")
    qu.add_argument("--data-dir", type=Path, default=Path("data"))
    qu.add_argument("--catalogue", type=Path, action="append", default=None,
                    help="catalogue overlay folder (default: <data-dir>/catalogue)")
    qu.add_argument("--no-gate", action="store_true", help="skip the duplicate / size checks of --add photos")

    cmp = sub.add_parser("compare", help="candidate vs published model on the same photos")
    cmp.add_argument("--candidate", type=Path, required=True)
    cmp.add_argument("--published", type=Path, default=Path("data/models/current"))
    cmp.add_argument("--data-dir", type=Path, default=Path("data"))
    cmp.add_argument("--split", choices=("val", "test"), default="test")
    cmp.add_argument("--tolerance", type=float, default=0.02)
    cmp.add_argument("--json", action="store_true")


def quick_update_cmd(args) -> int:
    from species_data.dataset import scan
    from species_data.ingest import quality_gate

    from .bundle import Bundle
    from .compare import compare, format_table
    from .quick_update import QuickUpdateConfig, next_version, quick_update

    base = Bundle.load(args.base)
    models = Path(args.base).parent
    out = args.out or models / next_version(models)
    add = []
    if args.add:
        gate = None if args.no_gate else quality_gate([], base.manifest(), args.data_dir / "phash.json")
        for photo in scan(args.add).photos:
            verdict = gate.admit(str(photo.path), photo.path, photo.label) if gate is not None else None
            if verdict is not None and not verdict.accepted:
                print(f"{photo.path}: left out ({verdict.code.value} {dict(verdict.message_params())})")
                continue
            add.append(photo)
    catalogues = args.catalogue if args.catalogue is not None else [args.data_dir / "catalogue"]
    result = quick_update(QuickUpdateConfig(base=base.path, out=out, add=add, remove=list(args.remove),
                                            data_dir=args.data_dir, catalogue_dirs=catalogues))
    print(f"wrote {result.bundle.path}: {result.added} photos added, {result.removed} removed, new classes "
          f"{list(result.new_classes) or '-'}, {result.embedded_new} embedded, {result.seconds['total']:.1f} s")
    print(format_table(compare(result.bundle, base, args.data_dir)))
    result.wait()
    return 0


def compare_cmd(args) -> int:
    from .bundle import Bundle
    from .compare import compare, format_table

    c = compare(Bundle.load(args.candidate), Bundle.load(args.published), args.data_dir, args.split, args.tolerance)
    print(json.dumps(c.to_dict(), indent=1) if args.json else format_table(c))
    return 0


def run(args: argparse.Namespace) -> int:
    return {"quick-update": quick_update_cmd, "compare": compare_cmd}[args.command](args)
