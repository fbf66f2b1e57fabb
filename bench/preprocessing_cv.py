"""Head-mode accuracy by input size and centre crop: 5-fold cross-validation over all photos.

For each preprocessing (`--configs SIZE:CROP ...`, e.g. 224:0.875 224:1.0 288:1.0) the photos
are embedded once into the data folder's cache for that preprocessing (`EmbeddingCache.
for_backbone`, so later runs are fast), then the linear head (`train.head.fit_head`, L2
fixed at `--l2`) is fitted on four folds and tested on the fifth (folds by content hash).
Reported: cross-validated top-1 and accuracy on ivory and its four look-alikes, the fixed
split's validation and test top-1 (head chosen as `fit` does), held-out-source recall, and a
McNemar test of each configuration against the first (photos it fixes vs breaks).

This measures accuracy, not speed: it is not part of `run_all.py`. About a minute per new
configuration to embed on 2 cores, seconds once cached.

Run: python bench/preprocessing_cv.py [--configs 224:0.875 224:1.0 288:1.0] [--data-dir data] [--quick]
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

try:
    from . import common as c
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]

TITLE = "Head-mode accuracy by preprocessing (5-fold cross-validation)"
ARCH = "tf_efficientnet_lite0"
FOLDS = 5


def _extra(p):
    p.add_argument("--configs", nargs="+", default=["224:0.875", "224:1.0", "288:1.0"],
                   help="SIZE:CROP pairs; the first is the baseline of the McNemar test")
    p.add_argument("--data-dir", type=Path, default=c.ROOT / "data", help="where the embedding caches live")
    p.add_argument("--l2", type=float, default=1e-2)


def _cv_correct(feats, y, fold, classes: int, l2: float):
    """Out-of-fold top-1 hits, by the protocol's one implementation (`train.crossval`)."""
    from train.crossval import HeadRecipe, oof_logits

    logits, _ = oof_logits(feats, y, fold, classes, HeadRecipe(l2=l2))
    return logits.argmax(1) == y


def run(args) -> c.Report:
    import numpy as np
    from scipy.stats import binomtest

    from species_data.dataset import Split, scan
    from train.backbone import spec
    from train.card import IVORY_CLASSES
    from train.crossval import assign_folds
    from train.embeddings import EmbeddingCache, embed_photos
    from train.fit import LazyNetwork, source_holdout
    from train.head import fit_head

    photo_set = scan([args.photos], None)
    photos = list(photo_set.photos)
    if args.quick:
        photos = photos[::6]
    labels = list(photo_set.labels)
    network = LazyNetwork(ARCH, len(labels))
    rows, baseline, notes = [], None, []
    for config in args.configs:
        size, crop = config.split(":")
        pre = replace(spec(ARCH).preprocessing, input_size=int(size), crop_pct=float(crop))
        cache = EmbeddingCache.for_backbone(args.data_dir, ARCH, pre)
        feats, kept, _ = embed_photos(photos, network.backbone, pre, cache, progress=False)
        y = np.array([labels.index(p.label) for p in kept])
        fold = assign_folds([p.sha256 for p in kept], folds=FOLDS)  # by content hash, as the protocol's
        split = np.array([p.split.value for p in kept])
        correct = _cv_correct(feats, y, fold, len(labels), args.l2)
        ivory = np.isin(y, [labels.index(l) for l in IVORY_CLASSES if l in labels])
        tr, va, te = (split == s.value for s in Split)
        head = fit_head(feats[tr], y[tr], feats[va], y[va], len(labels))
        top1 = {name: float(np.mean((feats[m] @ head.weight.T + head.bias).argmax(1) == y[m])) for name, m in
                (("val", va), ("test", te), ("test ivory", te & ivory))}
        holdout = source_holdout(feats, y, kept, photo_set, head)
        held = holdout.mean_recall if holdout else float("nan")
        if baseline is None:
            baseline, versus = correct, "baseline"
        else:
            fixed, broken = int(np.sum(correct & ~baseline)), int(np.sum(baseline & ~correct))
            p = binomtest(fixed, fixed + broken).pvalue if fixed + broken else 1.0
            versus = f"fixes {fixed}, breaks {broken}, p = {p:.3f}"
        rows.append((f"{size} px / {float(crop):g}", f"{correct.mean():.4f}", f"{correct[ivory].mean():.4f}",
                     f"{top1['val']:.4f} / {top1['test']:.4f} / {top1['test ivory']:.3f}", f"{held:.3f}", versus))
    notes.append(f"{len(photos)} photos, {len(labels)} classes, {FOLDS} folds by content hash, L2 {args.l2:g}; "
                 "fixed split: the head `fit` would choose (L2 walked on validation)")
    table = c.table(("input / crop", "CV top-1", "CV ivory + look-alikes", "fixed split: val / test top-1 / test ivory",
                     "held-out sources", "McNemar vs the first"), rows)
    return c.Report(TITLE, table, [], notes)


def main(argv=None) -> c.Report:
    return c.main_for(TITLE, run, __doc__, argv, _extra)


if __name__ == "__main__":
    main()
