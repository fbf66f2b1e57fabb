"""`python -m train fit | evaluate | card | publish | quick-update | compare`: model work.

Argument parsing here; heavy imports happen only inside commands, so `--help` is instant
and `parse_args` is unit-testable. A bundle always holds its own model card (`card.md`);
`publish --card-dir model_cards` also puts it where the project keeps the cards of
published models, so a test or an experiment never changes tracked files.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path


def create_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="train a model bundle from folder-per-class photos")
    fit.add_argument("--data", type=Path, action="append", required=True,
                     help="folder of <class_id>/<image> folders (repeatable)")
    fit.add_argument("--out", type=Path, required=True, help="bundle folder to write, e.g. data/models/v1")
    fit.add_argument("--mode", choices=("head", "finetune", "partial"), default="head",
                     help="head: linear head on frozen features; finetune: the whole network; partial: the top "
                          "stage and the head from cached activations, judged against the head by the protocol")
    fit.add_argument("--arch", default="tf_efficientnet_lite0",
                     choices=("tf_efficientnet_lite0", "tf_efficientnet_lite2"))
    fit.add_argument("--data-dir", type=Path, default=Path("data"), help="cache folder (embeddings, checkpoints)")
    fit.add_argument("--ood-data", type=Path, default=None,
                     help="flat folder of out-of-catalogue photos to choose and report the UNKNOWN rule")
    fit.add_argument("--catalogue", type=Path, action="append", default=[],
                     help="extra catalogue folder overriding the packaged one (repeatable)")
    fit.add_argument("--classes", nargs="*", default=None, help="only these class ids")
    fit.add_argument("--card-dir", type=Path, default=None,
                     help="also write the model card here (it is always written beside the bundle, card.md)")
    fit.add_argument("--workers", type=int, default=1)
    fit.add_argument("--batch-size", type=int, default=32)
    fit.add_argument("--epochs", type=int, default=8, help="fine-tune epochs")
    fit.add_argument("--lr", type=float, default=1e-3, help="fine-tune head learning rate")
    fit.add_argument("--max-steps", type=int, default=None, help="fine-tune: stop after this many steps (smoke runs)")
    fit.add_argument("--input-size", type=int, default=None,
                     help="train and serve at this size in pixels (default: the backbone's, 224 for lite0)")
    fit.add_argument("--all-photos", action=argparse.BooleanOptionalAction, default=True,
                     help="head mode: fit the published head on every photo, with temperature, thresholds and the "
                          "out-of-catalogue rule chosen on out-of-fold predictions (default); --no-all-photos fits "
                          "on the 70 %% train split and calibrates on validation")
    fit.add_argument("--folds", type=int, default=5, help="cross-validation folds for --all-photos")
    fit.add_argument("--crop-pct", type=float, default=None,
                     help="share of the photo's short side kept by the centre crop, 0.2-1 (default: the "
                          "backbone's, 0.875; 1.0 keeps the whole short side)")
    ft = fit.add_argument_group("fine-tuning (--mode finetune; also under torchrun --nproc_per_node=N)")
    ft.add_argument("--backbone-lr-scale", type=float, default=0.1, help="last backbone stage lr = lr x this")
    ft.add_argument("--layer-decay", type=float, default=0.75, help="lr factor per backbone stage going down")
    ft.add_argument("--weight-decay", type=float, default=0.05)
    ft.add_argument("--warmup-epochs", type=float, default=1.0)
    ft.add_argument("--label-smoothing", type=float, default=0.1)
    ft.add_argument("--patience", type=int, default=3, help="epochs without a better validation loss before stopping")
    ft.add_argument("--lp-ft", action=argparse.BooleanOptionalAction, default=True,
                    help="start the head from a linear probe on cached embeddings (LP-FT)")
    ft.add_argument("--augment", choices=("light", "strong"), default="strong")
    ft.add_argument("--amp", choices=("auto", "off", "bf16", "fp16"), default="auto",
                    help="mixed precision (auto: bf16 or fp16 on GPU, off on CPU)")
    ft.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--resume", action="store_true",
                    help="continue from <data-dir>/checkpoints/<out name>/last.pt at the saved step")
    fit.add_argument("--no-progress", action="store_true")

    ev = sub.add_parser("evaluate", help="evaluate a bundle on photos and write a report")
    ev.add_argument("--model", type=Path, required=True)
    ev.add_argument("--data", type=Path, action="append", required=True)
    ev.add_argument("--split", choices=("train", "val", "test", "all"), default="test")
    ev.add_argument("--out", type=Path, default=None, help="report folder (default: <model>/report-<split>)")
    ev.add_argument("--backend", choices=("auto", "onnx", "torch"), default="auto")
    ev.add_argument("--no-progress", action="store_true")

    card = sub.add_parser("card", help="regenerate the model card of a bundle (card.md beside it)")
    card.add_argument("--model", type=Path, required=True)
    card.add_argument("--card-dir", type=Path, default=None, help="also write it here as <version>.md")

    pub = sub.add_parser("publish", help="make a bundle the served model (models/current); also rolls back")
    pub.add_argument("--models", type=Path, default=Path("data/models"))
    pub.add_argument("--card-dir", type=Path, default=None,
                     help="also write the published model's card here (the project's: model_cards)")
    pub.add_argument("version")

    from .trainer_cli import add_subcommands  # quick-update, compare

    add_subcommands(sub)
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    args = create_parser().parse_args(argv)
    for folder in getattr(args, "data", None) or []:
        if not folder.is_dir():
            create_parser().error(f"--data {folder}: no such folder; pass a folder of <class_id>/<image> folders")
    return args


def fit_cmd(args) -> int:
    from .config import TrainingConfig

    mode = {"partial": "partial_finetune"}.get(args.mode, args.mode)
    cfg = TrainingConfig(data=args.data, out=args.out, arch=args.arch, mode=mode, data_dir=args.data_dir,
                         ood_data=args.ood_data, catalogue_dirs=args.catalogue, classes=args.classes,
                         workers=args.workers, batch_size=args.batch_size, progress=not args.no_progress,
                         card_dir=args.card_dir, epochs=args.epochs, lr=args.lr, max_steps=args.max_steps,
                         backbone_lr_scale=args.backbone_lr_scale, layer_decay=args.layer_decay,
                         weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs,
                         label_smoothing=args.label_smoothing, patience=args.patience, lp_ft=args.lp_ft,
                         augment=args.augment, amp=args.amp, device=args.device, input_size=args.input_size,
                         crop_pct=args.crop_pct, all_photos=args.all_photos, folds=args.folds,
                         seed=args.seed, resume=args.resume)
    if args.mode == "head":
        from .fit import fit

        bundle = fit(cfg)
    elif args.mode == "partial":
        from .partial_fit import fit_partial

        bundle = fit_partial(cfg)
    else:
        from .finetune import finetune

        bundle = finetune(cfg)
        if bundle is None:  # a torchrun rank other than 0: rank 0 writes and reports
            return 0
    m = bundle.meta.metrics.test
    print(f"wrote {bundle.path}: test top-1 {m.top1:.3f}, top-5 {m.top5:.3f}, macro-F1 {m.macro_f1:.3f}, "
          f"{bundle.meta.training.seconds_total} s")
    return 0


def evaluate_cmd(args) -> int:
    from .evaluate import evaluate
    from .typed_json import to_json

    out = args.out or args.model / f"report-{args.split}"
    ev = evaluate(args.model, args.data, args.split, out, args.backend, progress=not args.no_progress)
    m = ev.metrics
    print(json.dumps({"n": m.n, "top1": m.top1, "top5": m.top5, "macro_f1": m.macro_f1, "ece": m.ece,
                      "abstain_rate": m.abstain_rate, "answered_accuracy": m.answered_accuracy,
                      "threshold": m.threshold, "decisions": to_json(ev.decisions),
                      "protected_released": ev.release.released_with,
                      "protected_photos": ev.release.protected_photos}, indent=1))
    print(f"report: {out / 'report.md'}")
    return 0


def card_cmd(args) -> int:
    from .bundle import Bundle
    from .card import publish_card, write_card

    bundle = Bundle.load(args.model)
    print(write_card(bundle))
    if args.card_dir is not None:
        print(publish_card(bundle, args.card_dir))
    return 0


def publish_cmd(args) -> int:
    from .bundle import Bundle, publish
    from .card import publish_card

    print(publish(args.models, args.version))
    if args.card_dir is not None:
        print(publish_card(Bundle.load(args.models / args.version), args.card_dir))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from .trainer_cli import run

    commands = {"fit": fit_cmd, "evaluate": evaluate_cmd, "card": card_cmd, "publish": publish_cmd}
    return commands.get(args.command, run)(args)
