"""Protected photos released as a harmless look-alike: the bundle's rule, in cross-validation.

The one error that lets contraband through is a protected (CITES-listed) photo answered
IDENTIFIED as a non-protected class. This measures how often the bundle's decision rule
makes it, on every photo of its classes rather than on its 421 test photos: the linear
head is refitted on four folds (folds by content hash, features from the embedding cache,
the bundle's L2 and temperature) and predicts the fifth. Two rates are reported:

- without the release policy: the bundle's identify threshold alone (v1 as it served
  before issue 16);
- with it: each look-alike family's release threshold chosen by `train.release.
  choose_release` on the out-of-fold predictions of the *other* folds, applied to this
  fold (nested, so no photo helps choose the threshold it is judged by), next to its
  cost: harmless photos of the families no longer IDENTIFIED.

No out-of-catalogue score here (it would need each fold's references): the rates count
every confident release, so they are upper bounds for the served rule. Accuracy, not
speed: not part of run_all.py; about a minute on 2 cores once the cache is warm.

Run: python bench/release_policy.py [--bundle data/models/current] [--data-dir data] [--json out.json]
"""
from __future__ import annotations

from pathlib import Path

try:
    from . import common as c
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]

TITLE = "Protected photos released as a look-alike (5-fold cross-validation)"
FOLDS = 5
TARGET = 0.005


def _extra(p):
    p.add_argument("--data-dir", type=Path, default=c.ROOT / "data", help="where the embedding cache lives")


def out_of_fold(feats, y, fold, classes: int, l2: float, temperature: float):
    import numpy as np

    from train.head import fit_head, softmax

    probs = np.zeros((len(y), classes))
    for k in range(FOLDS):
        test = fold == k
        head = fit_head(feats[~test], y[~test], feats[:0], y[:0], classes, l2_grid=(l2,))
        probs[test] = softmax(feats[test] @ head.weight.T + head.bias, temperature)
    return probs


def run(args) -> c.Report:
    import numpy as np

    from species_data.dataset import scan
    from train.bundle import Bundle
    from train.features import cache_for, features_of, embedder_for
    from train.release import FamilyRelease, choose_release, release_report

    bundle = Bundle.load(args.bundle)
    meta = bundle.meta
    photos = [p for p in scan([args.photos]).photos if p.label in meta.labels]
    if args.quick:
        photos = photos[::4]
    feats, photos, _, _ = features_of(photos, lambda: embedder_for(bundle), meta.preprocessing,
                                      cache_for(bundle, args.data_dir))
    y = np.array([meta.labels.index(p.label) for p in photos])
    fold = np.array([int(p.sha256[:8], 16) % FOLDS for p in photos])
    probs = out_of_fold(feats, y, fold, len(meta.labels), meta.training.l2 or 1e-2, meta.temperature)

    base = meta.decision_rule()
    base = base.with_thresholds(base.thresholds.replace(ood=None, release={}))
    chosen: dict[str, list] = {}
    free_and_policy = []
    for k in range(FOLDS):
        test = fold == k
        choices = choose_release(probs[~test], y[~test], base)  # on the other folds' out-of-fold answers
        for family, r in choices.items():
            chosen.setdefault(family, []).append(r.threshold)
        rule = base.with_thresholds(base.thresholds.replace(release={f: r.threshold for f, r in choices.items()}))
        free_and_policy.append(release_report(probs[test], y[test], rule))
    protected = sum(r.protected_photos for r in free_and_policy)
    without = sum(r.released_without for r in free_and_policy)
    with_policy = sum(r.released_with for r in free_and_policy)
    families = {}
    for r in free_and_policy:
        for f in r.families:
            a = families.get(f.family)
            families[f.family] = f if a is None else FamilyRelease(
                f.family, None, a.protected_photos + f.protected_photos, a.released_without + f.released_without,
                a.released_with + f.released_with, a.harmless_photos + f.harmless_photos,
                a.identified_without + f.identified_without, a.identified_with + f.identified_with)
    rows = [("all protected classes", protected, f"{without} ({without / protected:.2%})",
             f"{with_policy} ({with_policy / protected:.2%})", "", "")]
    for name, f in sorted(families.items()):
        thresholds = ", ".join("never" if t is None else f"{t:.3f}" for t in chosen[name])
        rows.append((f"family {name}", f.protected_photos, f"{f.released_without}", f"{f.released_with}",
                     f"{f.identified_without} -> {f.identified_with} of {f.harmless_photos}", thresholds))
    table = c.table(("photos", "protected", "released without policy", "released with policy",
                     "harmless photos IDENTIFIED without -> with", "release threshold per fold"), rows)
    notes = [f"{len(y)} photos of the bundle's {len(meta.labels)} classes, {FOLDS} folds by content hash; the head "
             f"refitted per fold (L2 {meta.training.l2 or 1e-2}), temperature {meta.temperature:.3f} and identify "
             f"threshold {meta.thresholds.identify:.3f} from the bundle; no out-of-catalogue score",
             "released: a protected photo answered IDENTIFIED as a non-protected class"]
    values = {"protected": protected, "released_without": without, "released_with": with_policy,
              "rate_without": without / protected, "rate_with": with_policy / protected}
    for name, f in families.items():
        values[f"{name}.identified_without"] = f.identified_without
        values[f"{name}.identified_with"] = f.identified_with
        values[f"{name}.harmless_photos"] = f.harmless_photos
    targets = [c.target("protected photos released (cross-validated, with the policy)", 100 * with_policy / protected,
                        "%", 100 * TARGET)]
    return c.Report(TITLE, table, targets, notes, values)


def main(argv=None) -> c.Report:
    return c.main_for(TITLE, run, __doc__, argv, _extra)


if __name__ == "__main__":
    main()
