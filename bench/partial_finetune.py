"""The cached partial fine-tune: its time from warm caches, and its score under the protocol.

Issue 16 item 5. Timed stages: the caches (activations below the cut of every photo's
served view and K augmented views, and of the out-of-catalogue photos; only missing
ones are computed, so a second run times warm caches), the 5-fold cross-validation
(one training per fold, for the protocol and the out-of-fold calibration) and the final
training on every photo. Target: cross-validation + final training <= 10 min on this
2-core machine from warm caches. Then `train.protocol` scores the fine-tune's out-of-fold
outputs against the default head recipe on the same folds, with McNemar tests.

Run: python bench/partial_finetune.py [--quick] [--epochs 2] [--views 6] [--json FILE]
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

try:
    from . import accuracy_cv as acv
    from . import common as c
except ImportError:  # run as a file
    import accuracy_cv as acv  # type: ignore[no-redef]
    import common as c  # type: ignore[no-redef]

TITLE = "Partial fine-tune from cached activations (5-fold CV, warm caches)"
TARGET_MINUTES = 10.0


def _extra(p):
    p.add_argument("--data-dir", type=Path, default=c.ROOT / "data", help="where the caches live")
    p.add_argument("--ood", type=Path, default=c.PHOTOS.parent / "photos_ood", help="out-of-catalogue photos")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--views", type=int, default=6, help="augmented views per photo")


def run(args) -> c.Report:
    import numpy as np

    from train.crossval import assign_folds
    from train.partial_finetune import PartialModel, PartialRecipe, run as run_partial
    from train.protocol import Candidate, Precomputed, run_candidate, scorecard
    from train.selection import compare
    from train.stages import cache_views
    from train.views import View, augmented_views

    args.levers, args.repeats = [acv.DEFAULT], 1
    d = acv.load(args)
    recipe = PartialRecipe(views=2 if args.quick else args.views, epochs=1 if args.quick else args.epochs)
    pre = acv._pre()
    t0 = time.perf_counter()
    vs = cache_views(d.photos, (View(),) + augmented_views(recipe.views, recipe.strength), acv.ARCH, pre, d.data_dir,
                     progress=False)
    ood = cache_views(d.ood_photos, (View(),), acv.ARCH, pre, d.data_dir, progress=False)
    t_cache = time.perf_counter() - t0
    if len(vs.photos) != len(d.photos) or len(ood.photos) != len(d.ood_photos):
        raise SystemExit("some photos failed to decode")
    folds = assign_folds(d.shas, d.groups, 0)
    model = PartialModel(acv.ARCH, len(d.labels), recipe.frozen)
    cpu0 = time.process_time()  # CPU seconds of this process (both cores): what the load cannot inflate
    done = run_partial(model, vs.activations, vs.features, d.y, d.shas, folds, ood.activations[0], None, recipe)
    minutes = (done.seconds["cross_validation"] + done.seconds["final"]) / 60
    cpu_minutes = (time.process_time() - cpu0) / 60
    member = Precomputed.from_folds("partial-ft", folds, done.folds)
    cards = {}
    for name, candidate in (("head", acv.LEVERS[acv.DEFAULT](d, "head")), ("partial-ft", Candidate("partial-ft", (member,)))):
        cards[name] = scorecard(run_candidate(candidate, d.y, d.shas, d.groups, d.classes, 1), d.y, d.classes, d.groups)
    test = compare(cards["partial-ft"], cards["head"])
    rows, record = [], {}
    for name, card in cards.items():
        est = {m: card.estimate(m) for m in ("top1", "ivory5", "ivory_recall", "released", "group_precision",
                                             "ood_at_budget")}
        record[name] = {k: v.to_dict() for k, v in est.items()}
        rows.append((name, est["top1"].text(), est["ivory5"].text(), est["ivory_recall"].text(),
                     est["released"].text(percent=True), est["group_precision"].text(),
                     est["ood_at_budget"].text(percent=True),
                     "-" if name == "head" else "; ".join(f"{m} {t.text()}" for m, t in test.tests.items()
                                                        if m in ("top1", "ivory5", "ivory_recall", "released"))))
    epochs = [f.epoch for f in done.fits]
    notes = [f"{len(d.photos)} photos x {recipe.views + 1} views, {len(d.ood_photos)} out-of-catalogue photos; "
             f"recipe {recipe}",
             f"CPU time of CV + final training {cpu_minutes:.1f} min (both cores; load average at the end "
             f"{c.load_average()})",
             f"caches {t_cache:.0f} s (0 when warm); cross-validation {done.seconds['cross_validation']:.0f} s; final "
             f"training {done.seconds['final']:.0f} s ({done.final.epoch} epochs); epochs kept per fold {epochs}",
             f"verdict: {'ADOPT' if test.adopted else 'keep the head model'} ({test.reason}); held-out sources not "
             "measured here (six more trainings)"]
    extra = {"seconds": {"caches": round(t_cache, 1), **done.seconds}, "minutes_from_warm_caches": minutes,
             "cpu_minutes": cpu_minutes, "epochs_per_fold": epochs, "scores": record, "adopted": test.adopted,
             "verdict": test.reason,
             "tests": {m: {"fixes": t.fixes, "breaks": t.breaks, "p": t.p_value} for m, t in test.tests.items()}}
    table = c.table(("model", "CV top-1", "ivory + 4 look-alikes", "elephant-ivory recall", "protected released",
                     "GROUP precision", "out-of-cat. UNKNOWN at <= 5 %", "McNemar vs the head"), rows)
    target = c.target("partial fine-tune from warm caches (CV + final)", minutes, "min", TARGET_MINUTES)
    return c.Report(TITLE, table, [replace(target, ok=None) if args.quick else target], notes, extra=extra)


def main(argv=None) -> c.Report:
    return c.main_for(TITLE, run, __doc__, argv, _extra)


if __name__ == "__main__":
    main()
