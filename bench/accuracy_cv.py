"""Accuracy levers under the selection protocol: repeated k-fold CV over every photo.

Issue 16 items 3-4. Every candidate recipe is scored by `train.protocol` on the same
photos: repeated 5-fold cross-validation over all photos (folds by content hash,
near-duplicates kept in one fold, `train.crossval`), temperature and thresholds
cross-fitted on the other folds, plus the held-out-source score. Each row gives 95 %
intervals (bootstrap over near-duplicate groups; Wilson for the out-of-catalogue rates)
and McNemar tests against the default; a lever is adopted only when `train.selection.adopt`
says so. Every member's embeddings are cached by content hash (`train.views`,
`train.stages`), so a second run takes minutes, not the first run's embedding time.

Columns: CV top-1; ivory and its four look-alikes (train.card.IVORY_CLASSES); elephant-
ivory recall (summed probability of the protected classes of its group >= 0.5);
protected photos answered IDENTIFIED as a non-protected class ("released"); precision
of GROUP answers; held-out sources (mean recall, as `train.fit.source_holdout`);
out-of-catalogue photos UNKNOWN when at most 5 % of in-catalogue photos are; forward
passes per photo and their measured cost.

Run: python bench/accuracy_cv.py [--levers v1 flip-tta ...] [--repeats 3] [--json FILE] [--quick]
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

try:
    from . import common as c
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]

TITLE = "Accuracy levers under the selection protocol (repeated 5-fold CV)"
ARCH, LITE2 = "tf_efficientnet_lite0", "tf_efficientnet_lite2"
AUG_VIEWS = 6
DEFAULT = "default"  # train.crossval.default_recipe: what `python -m train fit` publishes


def _extra(p):
    p.add_argument("--levers", nargs="+", default=None, help=f"candidates to score (default: all of {', '.join(LEVERS)})")
    p.add_argument("--repeats", type=int, default=3, help="repeats of 5-fold CV (each cuts the folds differently)")
    p.add_argument("--data-dir", type=Path, default=c.ROOT / "data", help="where the embedding caches live")
    p.add_argument("--ood", type=Path, default=c.PHOTOS.parent / "photos_ood", help="out-of-catalogue photos")
    p.add_argument("--no-latency", action="store_true", help="skip timing the forward passes")


# ---- the photos and their features ----
@dataclass
class Data:
    photos: list
    ood_photos: list
    labels: list[str]
    y: object  # np.ndarray
    shas: list[str]
    groups: object  # near-duplicate group per photo
    classes: object  # train.decision_rule.ClassGroups: groups, protected classes, look-alike families
    train_mask: object
    data_dir: Path
    _feats: dict

    def features(self, arch: str = ARCH, size: int | None = None, crop: float | None = None, view=None):
        """(photo features, out-of-catalogue features) under a backbone, preprocessing and view."""
        from train.backbone import spec
        from train.embeddings import embed_photos
        from train.fit import LazyNetwork
        from train.views import View, view_cache

        view = view or View()
        pre = spec(arch).preprocessing
        pre = replace(pre, input_size=size or pre.input_size, crop_pct=crop or pre.crop_pct)
        key = (arch, pre, view)
        if key not in self._feats:
            network = LazyNetwork(arch, len(self.labels))
            both = self.photos + self.ood_photos
            f, kept, skipped = embed_photos(both, network.backbone, pre, view_cache(self.data_dir, arch, pre, view),
                                            progress=False, loader=view.loader())
            if len(kept) != len(both):
                raise SystemExit(f"{len(skipped)} photos failed to decode under {view}: {skipped[:3]}")
            self._feats[key] = (f[:len(self.photos)], f[len(self.photos):])
        return self._feats[key]

    def augmented(self, k: int = AUG_VIEWS):
        """(features of k augmented views of every photo, owner photo index) for training rows."""
        import numpy as np

        from train.backbone import spec
        from train.stages import cache_views
        from train.views import augmented_views

        key = ("aug", k)
        if key not in self._feats:
            vs = cache_views(self.photos, augmented_views(k), ARCH, spec(ARCH).preprocessing, self.data_dir,
                             with_activations=False, progress=False)
            if len(vs.photos) != len(self.photos):
                raise SystemExit("some photos failed to decode in an augmented view")
            self._feats[key] = (np.concatenate(vs.features), np.tile(np.arange(len(self.photos)), k))
        return self._feats[key]


def load(args) -> Data:
    import numpy as np

    from species_data.dataset import Split, scan
    from train.crossval import duplicate_groups
    from train.embeddings import EmbeddingCache, embed_photos
    from train.fit import LazyNetwork, ood_photos
    from train.fit import class_groups
    from train.snapshot import catalogue_snapshot

    photo_set = scan([args.photos], None)
    photos = list(photo_set.photos)
    tune, report = ood_photos(args.ood if args.ood.is_dir() else None)
    ood_list = tune + report
    if args.quick:
        photos, ood_list = photos[::6], ood_list[::4]
    labels = list(photo_set.labels)
    y = np.array([labels.index(p.label) for p in photos])
    served, _, _ = embed_photos(photos, LazyNetwork(ARCH, len(labels)).backbone, _pre(),
                                EmbeddingCache.for_backbone(args.data_dir, ARCH), progress=False)
    classes = class_groups(labels, catalogue_snapshot(labels))
    return Data(photos, ood_list, labels, y, [p.sha256 for p in photos], duplicate_groups(served), classes,
                np.array([p.split is Split.TRAIN for p in photos]), args.data_dir, {})


def _pre():
    from train.backbone import spec

    return spec(ARCH).preprocessing


# ---- the levers ----
def _member(d: Data, name: str, **kw):
    """A member fitted by the default recipe unless `recipe` says otherwise."""
    from train.crossval import default_recipe
    from train.protocol import Member

    feats_kw = {k: kw.pop(k) for k in ("arch", "size", "crop", "view") if k in kw}
    f, f_ood = d.features(**feats_kw)
    return Member(name, f, f_ood, **{"recipe": default_recipe(d.labels), **kw})


def _flip_views(d: Data):
    from train.views import View

    return (d.features(view=View("flip")),)


def _scale(d: Data, protected: float = 1.0, ivory: float = 1.0) -> tuple[float, ...]:
    from train.card import ELEPHANT_IVORY_CLASSES

    return tuple((ivory if l in ELEPHANT_IVORY_CLASSES else 1.0) * (protected if d.classes.protected[i] else 1.0)
                 for i, l in enumerate(d.labels))


def _lever(*builders):
    def candidate(d: Data, name: str):
        from train.protocol import Candidate

        return Candidate(name, tuple(b(d) for b in builders))
    return candidate


def _with(**kw):
    return lambda d: _member(d, "lite0-224", **{k: (v(d) if callable(v) else v) for k, v in kw.items()})


def _recipe(d: Data, **kw):
    """The default recipe with some of its settings changed."""
    from dataclasses import replace as changed

    from train.crossval import default_recipe

    return changed(default_recipe(d.labels), **kw)


LEVERS = {
    DEFAULT: _lever(_with()),
    # v1's recipe, the default before the protocol adopted the elephant-ivory cost (item 20)
    "v1": _lever(_with(recipe=lambda d: _recipe(d, class_scale=()))),
    "l2-3e-3": _lever(_with(recipe=lambda d: _recipe(d, l2=3e-3))),
    "l2-3e-2": _lever(_with(recipe=lambda d: _recipe(d, l2=3e-2))),
    "no-balancing": _lever(_with(recipe=lambda d: _recipe(d, balance=0.0))),
    "full-balancing": _lever(_with(recipe=lambda d: _recipe(d, balance=1.0))),
    "logit-adjust": _lever(_with(recipe=lambda d: _recipe(d, balance=0.0), logit_adjust=1.0)),
    "cost-protected-x2": _lever(_with(recipe=lambda d: _recipe(d, class_scale=_scale(d, protected=2.0)))),
    "cost-ivory-x3": _lever(_with(recipe=lambda d: _recipe(d, class_scale=_scale(d, ivory=3.0)))),
    "flip-tta": _lever(_with(test_views=_flip_views)),
    "aug-probe": _lever(_with(train_views=lambda d: d.augmented())),
    "aug-probe+flip": _lever(_with(train_views=lambda d: d.augmented(), test_views=_flip_views)),
    "320px": _lever(lambda d: _member(d, "lite0-320", size=320)),
    "224+320": _lever(_with(), lambda d: _member(d, "lite0-320", size=320)),
    "lite2-260": _lever(lambda d: _member(d, "lite2-260", arch=LITE2)),
    "lite0+lite2": _lever(_with(), lambda d: _member(d, "lite2-260", arch=LITE2)),
    "tile2x": _lever(_with(), lambda d: _member(d, "tile2x", view=_tile())),
    "all-members": _lever(_with(train_views=lambda d: d.augmented(), test_views=_flip_views),
                          lambda d: _member(d, "lite0-320", size=320),
                          lambda d: _member(d, "lite2-260", arch=LITE2),
                          lambda d: _member(d, "tile2x", view=_tile())),
}
QUICK = (DEFAULT, "v1", "no-balancing")
MEASURES = ("top1", "ivory5", "ivory_recall", "released", "harmless_identified", "group_precision", "heldout",
            "ood_at_budget", "in_at_budget", "unknown_in", "unknown_out")
PERCENT = frozenset({"released", "ood_at_budget", "in_at_budget", "unknown_in", "unknown_out"})
TESTED = ("top1", "ivory5", "ivory_recall", "released", "heldout")  # cached features only: runs on a fresh clone


def _tile():
    from train.views import View

    return View("tile2x")


# ---- the cost of a forward pass ----
def forward_ms(arch: str, size: int, repeats: int = 30) -> float:
    """Median batch-1 ONNX Runtime forward of a backbone at `size`, 2 threads, as served."""
    import tempfile

    import numpy as np
    import onnxruntime as ort

    from train.export import export_onnx
    from train.fit import LazyNetwork
    from train.runtime import session_options

    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(LazyNetwork(arch, 1).backbone(), size, Path(tmp) / "b.onnx", outputs=("features",))
        session = ort.InferenceSession(str(path), session_options(2), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    return c.median(c.timings(lambda: session.run(None, {"input": x}), repeats, warmup=3)) * 1e3


def member_cost(member, d: Data, cache: dict) -> float:
    """Milliseconds of forward passes (and tile search) one member adds per photo."""
    name = member.name
    arch = LITE2 if name.startswith("lite2") else ARCH
    size = 320 if "320" in name else (260 if arch == LITE2 else 224)
    if (arch, size) not in cache:
        cache[(arch, size)] = forward_ms(arch, size)
    ms = cache[(arch, size)] * member.forward_passes
    if name == "tile2x":
        from train.views import detail_tile
        from train.embeddings import served_input

        photos = d.photos[:20]
        tile = c.median(c.timings(lambda: [detail_tile(p, _pre()) for p in photos], 3))
        plain = c.median(c.timings(lambda: [served_input(p, _pre()) for p in photos], 3))
        ms += (tile - plain) / len(photos) * 1e3
    return ms


# ---- the run ----
def run(args) -> c.Report:
    import numpy as np

    from train.protocol import run_candidate, scorecard
    from train.selection import compare, holm

    d = load(args)
    names = args.levers or (list(QUICK) if args.quick else list(LEVERS))
    if DEFAULT not in names:
        names = [DEFAULT, *names]
    repeats = 1 if args.quick else args.repeats
    cards, candidates, seconds = {}, {}, {}
    for name in names:
        t0 = time.perf_counter()
        candidates[name] = LEVERS[name](d, name)
        outputs = run_candidate(candidates[name], d.y, d.shas, d.groups, d.classes, repeats, d.photos, d.train_mask)
        cards[name] = scorecard(outputs, d.y, d.classes, d.groups)
        seconds[name] = time.perf_counter() - t0
        c.emit(f"- scored {name} in {seconds[name]:.0f} s")
    costs: dict = {}
    base_ms = None if args.no_latency else sum(member_cost(m, d, costs) for m in candidates[DEFAULT].members)
    others = [n for n in names if n != DEFAULT]
    tests = dict(zip(others, holm([compare(cards[n], cards[DEFAULT]) for n in others])))
    rows, test_rows, record = [], [], {}
    for name in names:
        card, test = cards[name], tests.get(name)
        passes = sum(m.forward_passes for m in candidates[name].members)
        ms = None if base_ms is None else sum(member_cost(m, d, costs) for m in candidates[name].members)
        est = {m: card.estimate(m) for m in MEASURES}
        verdict = "default" if test is None else ("ADOPT" if test.adopted else "keep default") + f": {test.reason}"
        rows.append((name, *(est[m].text(percent=m in PERCENT) for m in MEASURES[:8]), passes,
                     "n/a" if ms is None else f"+{ms - base_ms:.1f}"))
        if test is not None:
            test_rows.append((name, *(test.tests[m].text() if m in test.tests else "-" for m in TESTED), verdict))
        record[name] = {"estimates": {k: v.to_dict() for k, v in est.items()}, "forward_passes": passes,
                        "ms_per_photo": ms, "extra_ms_per_photo": None if ms is None else ms - base_ms,
                        "members": [m.name for m in candidates[name].members], "seconds": round(seconds[name], 1),
                        "tests": {} if test is None else {m: {"fixes": t.fixes, "breaks": t.breaks, "p_holm": t.p_value,
                                                              "p": t.raw_p if t.raw_p is not None else t.p_value,
                                                              "difference": t.difference.to_dict()}
                                                          for m, t in test.tests.items()},
                        "adopted": bool(test and test.adopted), "verdict": verdict}
    notes = [f"{len(d.photos)} photos, {len(d.labels)} classes, {repeats} x 5-fold CV (folds by content hash, "
             f"{len(np.unique(d.groups))} near-duplicate groups), {len(d.ood_photos)} out-of-catalogue photos",
             "intervals: 95 % bootstrap over near-duplicate groups (Wilson for out-of-catalogue rates); McNemar: "
             "+photos fixed/-photos broken against the default, exact binomial p adjusted by Holm over every test "
             "of the run",
             "adopted when top-1, ivory + look-alikes or elephant-ivory recall is significantly better (p < 0.05) "
             "and none of them, held-out sources or released is significantly worse",
             "released: protected photos answered IDENTIFIED as a non-protected class under the served rule with "
             "its release policy (thresholds cross-fitted on the other folds); harmless still identified: photos of "
             "harmless look-alikes answered IDENTIFIED and right (the policy's cost)"]
    if base_ms is not None:
        notes.append("forward costs (ONNX Runtime, batch 1, 2 threads): " +
                     ", ".join(f"{a.replace('tf_efficientnet_', '')} {s} px {ms:.1f} ms" for (a, s), ms in costs.items()))
    table = c.table(("candidate", "CV top-1", "ivory + 4 look-alikes", "elephant-ivory recall", "protected released",
                     "harmless still identified", "GROUP precision", "held-out sources",
                     "out-of-cat. UNKNOWN at <= 5 %", "passes", "ms/photo"), rows)
    table += f"\n\nMcNemar against {DEFAULT} (+fixed/-broken photos, Holm-adjusted p):\n\n" + c.table(
        ("candidate", *TESTED, "verdict"), test_rows)
    extra = {"photos": len(d.photos), "repeats": repeats, "default": DEFAULT, "candidates": record}
    return c.Report(TITLE, table, [], notes, extra=extra)  # --json keeps every estimate (scripts/write_numbers.py)


def main(argv=None) -> c.Report:
    return c.main_for(TITLE, run, __doc__, argv, _extra)


if __name__ == "__main__":
    main()
