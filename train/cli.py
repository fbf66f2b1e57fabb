"""Argument parsing for `python -m train`; heavy imports happen only inside commands,
so `--help` is instant and `parse_args` is unit-testable."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

DEFAULT_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "photos"
DEFAULT_OOD = DEFAULT_PHOTOS.parent / "photos_ood"


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="train a model bundle from folder-per-class photos")
    fit.add_argument("--data", type=Path, action="append", required=True,
                     help="folder of <class_id>/<image> folders (repeatable)")
    fit.add_argument("--out", type=Path, required=True, help="bundle folder to write, e.g. data/models/v1")
    fit.add_argument("--mode", choices=("head", "finetune"), default="head")
    fit.add_argument("--arch", default="tf_efficientnet_lite0",
                     choices=("tf_efficientnet_lite0", "tf_efficientnet_lite2"))
    fit.add_argument("--data-dir", type=Path, default=Path("data"), help="cache folder (embeddings, checkpoints)")
    fit.add_argument("--ood-data", type=Path, default=None,
                     help="flat folder of out-of-catalogue photos to choose and report the UNKNOWN rule")
    fit.add_argument("--catalogue", type=Path, action="append", default=[],
                     help="extra catalogue folder overriding the packaged one (repeatable)")
    fit.add_argument("--classes", nargs="*", default=None, help="only these class ids")
    fit.add_argument("--card-dir", type=Path, default=Path("model_cards"))
    fit.add_argument("--workers", type=int, default=1)
    fit.add_argument("--batch-size", type=int, default=32)
    fit.add_argument("--epochs", type=int, default=8, help="fine-tune epochs")
    fit.add_argument("--lr", type=float, default=1e-3, help="fine-tune head learning rate")
    fit.add_argument("--max-steps", type=int, default=None, help="fine-tune: stop after this many steps (smoke runs)")
    fit.add_argument("--no-progress", action="store_true")

    ev = sub.add_parser("evaluate", help="evaluate a bundle on photos and write a report")
    ev.add_argument("--model", type=Path, required=True)
    ev.add_argument("--data", type=Path, action="append", required=True)
    ev.add_argument("--split", choices=("train", "val", "test", "all"), default="test")
    ev.add_argument("--out", type=Path, default=None, help="report folder (default: <model>/report-<split>)")
    ev.add_argument("--backend", choices=("auto", "onnx", "torch"), default="auto")
    ev.add_argument("--no-progress", action="store_true")

    card = sub.add_parser("card", help="regenerate the model card of a bundle")
    card.add_argument("--model", type=Path, required=True)
    card.add_argument("--card-dir", type=Path, default=Path("model_cards"))

    pub = sub.add_parser("publish", help="make a bundle the served model (models/current)")
    pub.add_argument("--models", type=Path, default=Path("data/models"))
    pub.add_argument("version")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    args = create_parser().parse_args(argv)
    for folder in getattr(args, "data", None) or []:
        if not folder.is_dir():
            create_parser().error(f"--data {folder}: no such folder; pass a folder of <class_id>/<image> folders")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if args.command == "fit":
        from .fit import FitConfig

        cfg = FitConfig(data=args.data, out=args.out, arch=args.arch, mode=args.mode, data_dir=args.data_dir,
                        ood_data=args.ood_data, catalogue_dirs=args.catalogue, classes=args.classes,
                        workers=args.workers, batch_size=args.batch_size, progress=not args.no_progress,
                        card_dir=args.card_dir, epochs=args.epochs, lr=args.lr, max_steps=args.max_steps)
        if args.mode == "head":
            from .fit import fit

            bundle = fit(cfg)
        else:
            from .finetune import finetune

            bundle = finetune(cfg)
        m = bundle.meta.metrics["test"]
        print(f"wrote {bundle.path}: test top-1 {m['top1']:.3f}, top-5 {m['top5']:.3f}, macro-F1 {m['macro_f1']:.3f}, "
              f"{bundle.meta.training['seconds_total']} s")
        return 0
    if args.command == "evaluate":
        from .evaluate import evaluate

        out = args.out or args.model / f"report-{args.split}"
        ev = evaluate(args.model, args.data, args.split, out, args.backend, progress=not args.no_progress)
        print(json.dumps({k: ev.metrics[k] for k in ("n", "top1", "top5", "macro_f1", "ece", "abstain_rate",
                                                      "answered_accuracy", "threshold")}, indent=1))
        print(f"report: {out / 'report.md'}")
        return 0
    if args.command == "card":
        from .bundle import Bundle
        from .card import write_card

        print(write_card(Bundle.load(args.model), args.card_dir))
        return 0
    if args.command == "publish":
        from .bundle import publish

        print(publish(args.models, args.version))
        return 0
    print(f"unknown command {args.command!r}", file=sys.stderr)
    return 2
