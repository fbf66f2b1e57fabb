"""`python -m train fit --mode partial`: the cached partial fine-tune end to end, judged by the protocol.

The story, top to bottom:
  1. scan the photos; the catalogue's facts the decision rule needs;
  2. caches: activations below the cut of the served view and K augmented views of every
     photo, and of the out-of-catalogue photos (only missing ones are computed;
     `train.stages`);
  3. cross-validate the partial fine-tune (`train.partial_finetune`) and score it against
     the head recipe on the same folds (`train.protocol`, `train.selection`): the verdict
     is kept in the bundle's metrics ("protocol");
  4. train the published network on every photo; temperature, thresholds (release policy
     included) and the out-of-catalogue rule come from the out-of-fold answers
     (`train.every_photo`), so the card's numbers are out of fold;
  5. write the bundle (its ONNX export checked against torch to 1e-4), and put the new
     backbone's features of every photo into its embedding cache, so a quick update or a
     comparison with this model starts warm.
Nothing is published here: the app publishes a bundle whose verdict says it won, unless
trainers switched automatic publishing off (`train.auto_finetune`, `serve.ui.trainer_auto`).
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from species_data.dataset import Split, scan

from . import ood
from .bundle import Bundle, BundleMeta
from .bundle_meta import PairedResult, ProtocolVerdict, Training
from .config import TrainingConfig, TrainingMode
from .crossval import assign_folds, duplicate_groups
from .every_photo import OOF_FILE, calibrate_oof, cv_report, oof_outputs, save_oof, take
from .fit import class_groups, finish_bundle, measure, ood_photos, preprocessing_for
from .partial_finetune import PartialModel, PartialRecipe, run
from .snapshot import catalogue_snapshot
from .stages import cache_views
from .typed_json import to_json
from .views import View, augmented_views

log = logging.getLogger(__name__)


class _Bar:
    """One progress bar over the whole run (each fold, then the final training), for the
    log the Trainer tab reads (`train.jobs.parse_progress`: the last tqdm percentage)."""

    def __init__(self, stages: int, enabled: bool):
        self.stages, self.index, self.last = stages, -1, None
        self.bar = tqdm(total=1000, desc="partial fine-tune", disable=not enabled, mininterval=1.0)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.last:
            self.index, self.last = self.index + 1, stage
            self.bar.set_description(f"partial fine-tune, {stage}")
        self.bar.n = int(1000 * (self.index + done / max(total, 1)) / self.stages)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.n = 1000
        self.bar.close()


def _verdict(run_, feats, ood_feats, y, shas, groups, classes) -> ProtocolVerdict:
    """The protocol: the partial fine-tune's out-of-fold answers against the head recipe's on
    the same folds (held-out sources are not measured here: six more trainings)."""
    from .protocol import Candidate, Member, Precomputed, run_candidate, scorecard
    from .selection import compare

    folds = assign_folds(shas, groups, 0, len(run_.folds))
    candidates = {"partial": Candidate("partial", (Precomputed.from_folds("partial", folds, run_.folds),)),
                  "head": Candidate("head", (Member("head", feats, ood_feats),))}
    cards = {k: scorecard(run_candidate(c, y, shas, groups, classes, 1, folds=len(run_.folds)), y, classes, groups)
             for k, c in candidates.items()}
    cmp = compare(cards["partial"], cards["head"])
    return ProtocolVerdict(
        "head recipe (linear probe on the same photos and folds)", cmp.adopted, cmp.reason,
        {k: {m: card.estimate(m) for m in ("top1", "ivory5", "ivory_recall", "released")} for k, card in cards.items()},
        {m: PairedResult(t.fixes, t.breaks, t.p_value) for m, t in cmp.tests.items()})


def fit_partial(cfg: TrainingConfig, recipe: PartialRecipe = PartialRecipe()) -> Bundle:
    t0 = time.perf_counter()
    photo_set = scan(cfg.data, cfg.classes)
    labels = list(photo_set.labels)
    snapshot = catalogue_snapshot(labels, cfg.catalogue_dirs)
    classes = class_groups(labels, snapshot)
    pre = preprocessing_for(cfg)

    views = (View(),) + augmented_views(recipe.views, recipe.strength, recipe.seed)
    vs = cache_views(photo_set.photos, views, cfg.arch, pre, cfg.data_dir, recipe.frozen, progress=cfg.progress)
    tune, report = ood_photos(cfg.ood_data)
    outside = [cache_views(half, (View(),), cfg.arch, pre, cfg.data_dir, recipe.frozen, progress=cfg.progress)
               if half else None for half in (tune, report)]
    photos = vs.photos
    y = np.array([labels.index(p.label) for p in photos])
    shas = [p.sha256 for p in photos]
    split = np.array([p.split.value for p in photos])
    groups = duplicate_groups(vs.features[0])
    folds = assign_folds(shas, groups, 0, cfg.folds)
    t_cache = time.perf_counter() - t0

    model = PartialModel(cfg.arch, len(labels), recipe.frozen)
    bar = _Bar(cfg.folds + 1, cfg.progress)
    done = run(model, vs.activations, vs.features, y, shas, folds,
               *(o.activations[0] if o is not None else None for o in outside), recipe, bar)
    bar.close()
    ood_feats = np.concatenate([o.features[0] for o in outside if o is not None] or [np.zeros((0, 1280))])
    verdict = _verdict(done, vs.features[0], ood_feats, y, shas, groups, classes)
    log.info("protocol verdict: %s", verdict.reason)

    cal = calibrate_oof(done.folds, classes)
    oof, report_oof = oof_outputs(done.folds, cal)
    va, te = (split == s.value for s in (Split.VAL, Split.TEST))
    metrics = replace(measure(take(oof, va), take(oof, te), cal, classes, None, report_oof),
                      cv=cv_report(oof, cal, classes, cfg.folds), protocol=verdict)
    ref = ood.OodReference.fit(done.features, y, len(labels))
    meta = BundleMeta(
        version=Path(cfg.out).name, arch=cfg.arch, labels=labels, preprocessing=pre, temperature=cal.temperature,
        thresholds=cal.thresholds, ood_method=cal.ood_method, groups=snapshot.groups,
        appendices=snapshot.appendices, lookalikes=snapshot.lookalikes, catalogue_version=snapshot.version,
        metrics=metrics,
        training=Training(TrainingMode.PARTIAL_FINETUNE, round(time.perf_counter() - t0, 1), config=cfg,
                          backbone=None, ood_data=cfg.ood_data, all_photos=True, folds=cfg.folds,
                          details={"recipe": to_json(recipe), "epochs_per_fold": [f.epoch for f in done.fits],
                                   "final_epochs": done.final.epoch, "history": [f.history for f in done.fits],
                                   "seconds_cache": round(t_cache, 1),
                                   **{f"seconds_{k}": v for k, v in done.seconds.items()}}),
        data_manifest=photo_set.manifest_hash(), counts=photo_set.counts(), sources=photo_set.sources(),
    )
    writers = {OOF_FILE: lambda path: save_oof(path, shas, folds, oof)}
    bundle = finish_bundle(cfg, meta, model.network, ref, photos, None, None, writers)
    _warm_cache(bundle, cfg.data_dir, photos, done.features)
    return bundle


def _warm_cache(bundle: Bundle, data_dir: Path, photos, feats: np.ndarray) -> None:
    """The new backbone's features of every photo, where `train.features.cache_for(bundle)` looks."""
    from .features import cache_for

    cache = cache_for(bundle, data_dir)
    for p, f in zip(photos, feats):
        cache.put(p.sha256, f)
