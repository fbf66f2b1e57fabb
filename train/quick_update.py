"""Quick update: a base bundle's photos, plus new ones, minus removed ones -> a candidate bundle.

The story, top to bottom (seconds on a laptop CPU once every photo has been read; the first
update on a fresh data folder reads them all - see `train.update_estimate`):
  1. photos: the base's manifest (old photos keep their frozen split), plus new
     photos (split by content hash as always), minus removed ones;
  2. embed only photos missing from the embedding cache, with the base bundle's
     own backbone: its ONNX export through ONNX Runtime (no network is re-created
     from the weight package; cached vectors come from one pack file);
  3. refit the linear head warm-started from the base head (new classes start at 0);
  4. calibrate on validation, measure on the same frozen test split; a new class is
     measured on its own held-out (val + test) photos, and, with fewer than 10 test photos,
     by k-fold cross-validation over all its photos (`train.class_cv`);
  5. write `models/<version>` with `parent` = the base version. The ONNX export of
     the base is reused with the new head patched in and checked against its own
     feature output, so the bundle stays complete without a re-export.

Nothing is published here: see `train.compare` and `train.bundle.publish`.
"""
from __future__ import annotations

import logging
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from species_data.dataset import Photo, PhotoSet, Split

from . import ood
from .bundle import Bundle, BundleMeta, save_bundle
from .bundle_meta import NewClassReport, Training
from .config import TrainingMode
from .calibrate import calibrate
from .class_cv import MIN_TEST_PHOTOS, ClassRecall, kfold_class_recall
from .crossval import FOLDS, assign_folds, default_recipe, duplicate_groups
from .every_photo import OOF_FILE, save_oof, take
from .selection import wilson
from .features import backbone_id, cache_for, embedder_for, features_of
from .update_estimate import record_fixed
from .fit import (calibrate_and_measure_oof, class_groups, measure, ood_photos, outputs_from_features, photo_sides,
                  write_manifest)
from .snapshot import catalogue_snapshot
from .export import export_with_head
from .head import fit_head, softmax
from .weights import StateDict, load_arrays, to_numpy

log = logging.getLogger(__name__)

Progress = Callable[..., None]  # (fraction done, stage code, **detail: done and total photos read)


@dataclass
class QuickUpdateConfig:
    base: Path  # base bundle folder (e.g. data/models/current)
    out: Path  # candidate bundle folder, data/models/<version>
    add: Sequence[Photo] = ()
    remove: Iterable[str] = ()  # content hashes to leave out
    data_dir: Path = Path("data")  # embedding cache lives here
    ood_data: Path | None | str = "base"  # "base": the folder the base was calibrated with
    catalogue_dirs: list[Path] = field(default_factory=list)
    card_dir: Path | None = None  # write a model card too (publishing writes one anyway)
    l2_grid: tuple[float, ...] | None = None  # default: the base's chosen strength only
    max_iter: int = 100
    batch_size: int = 32
    workers: int = 1  # decoding threads running ahead of the network
    plots: str = "background"  # "now", "background" (after the bundle is written) or "none"
    ood_methods: str | Sequence[str] = "base"  # "base": keep the base's out-of-catalogue score


@dataclass(frozen=True)
class QuickUpdate:
    bundle: Bundle
    new_classes: tuple[str, ...]
    dropped_classes: tuple[str, ...]  # every photo removed
    added: int
    removed: int
    relabelled: int
    embedded_new: int
    skipped: tuple[tuple[str, str], ...]  # (path, reason) of photos that did not decode
    seconds: dict[str, float]
    plots: threading.Thread | None = None  # still drawing the PNGs into the bundle, if "background"

    def wait(self) -> Bundle:
        """The bundle once its plots are drawn."""
        if self.plots is not None:
            self.plots.join()
        return self.bundle


# --- photos ------------------------------------------------------------------------------

def photos_from_manifest(rows: Iterable[Mapping[str, str]]) -> list[Photo]:
    return [Photo(Path(r["path"]), r["label"], r["sha256"], Split(r["split"]), r.get("source", "") or "")
            for r in rows]


@dataclass(frozen=True)
class Merge:
    photos: tuple[Photo, ...]
    added: int
    removed: int
    relabelled: int


def merge_photos(base: Sequence[Photo], add: Iterable[Photo], remove: Iterable[str]) -> Merge:
    """Base photos keep their split; a new photo with a known hash and another label relabels it."""
    gone = set(remove)
    by_sha = {p.sha256: p for p in base}
    removed = sum(sha in by_sha for sha in gone)
    added = relabelled = 0
    for p in add:
        if p.sha256 in gone:
            continue
        old = by_sha.get(p.sha256)
        if old is None:
            by_sha[p.sha256] = p
            added += 1
        elif old.label != p.label:
            by_sha[p.sha256] = Photo(old.path, p.label, old.sha256, old.split, p.source or old.source)
            relabelled += 1
    kept = tuple(p for sha, p in by_sha.items() if sha not in gone)
    return Merge(kept, added, removed, relabelled)


def next_version(models_dir: Path, prefix: str = "v") -> str:
    """`v<N+1>` after the highest `v<N>` folder (bundles and half-written ones alike)."""
    folder = Path(models_dir)
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    numbers = [int(m.group(1)) for n in names if (m := re.fullmatch(rf"\.?{re.escape(prefix)}(\d+)(?:-.*)?", n))]
    return f"{prefix}{max(numbers, default=0) + 1}"


def warm_start(state, base_labels: Sequence[str], labels: Sequence[str],
               x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The base head in the standardised space `fit_head` will use; new classes start at 0."""
    w_old, b_old = (to_numpy(state[k]).astype(np.float64) for k in ("head.weight", "head.bias"))
    w = np.zeros((len(labels), w_old.shape[1]))
    b = np.zeros(len(labels))
    for i, label in enumerate(labels):
        if label in base_labels:
            j = base_labels.index(label)
            w[i], b[i] = w_old[j], b_old[j]
    mean = x_train.mean(0).astype(np.float64)
    std = x_train.std(0).astype(np.float64) + 1e-6
    return (w * std[None, :]).astype(np.float32), (b + w @ mean).astype(np.float32)


# --- the update --------------------------------------------------------------------------

def _base_ood_folder(base: Bundle) -> Path | None:
    folder = base.meta.training.ood_data
    return folder if folder is not None and folder.is_dir() else None


def quick_update(cfg: QuickUpdateConfig, progress: Progress | None = None) -> QuickUpdate:
    tick = progress or (lambda fraction, stage, **detail: None)
    clock = {"start": time.perf_counter()}

    def lap(name: str) -> None:
        clock[name] = time.perf_counter()

    tick(0.0, "photos")
    base = Bundle.load(cfg.base)
    if Path(cfg.out).exists():
        raise ValueError(f"{cfg.out} already exists; a quick update never overwrites a bundle: choose a new "
                         "version name (train.quick_update.next_version)")
    rows = base.manifest()
    if not rows:
        raise ValueError(f"bundle {base.path} has no manifest.json, so its photos are unknown; "
                         "retrain it with `python -m train fit` before a quick update")
    merged = merge_photos(photos_from_manifest(rows), cfg.add, cfg.remove)
    base_labels = list(base.meta.labels)
    present = {p.label for p in merged.photos}
    labels = [l for l in base_labels if l in present] + sorted(present - set(base_labels))
    new_classes = tuple(l for l in labels if l not in base_labels)
    dropped = tuple(l for l in base_labels if l not in present)
    snapshot = catalogue_snapshot(labels, cfg.catalogue_dirs)
    classes = class_groups(labels, snapshot)
    state = load_arrays(base.weights_path)  # numpy: an update of cached photos never loads torch
    cache = cache_for(base, cfg.data_dir, state)
    preprocessing = base.meta.preprocessing
    embedders: list = []

    def embedder():  # built once, and only if some photo was never embedded
        if not embedders:
            embedders.append(embedder_for(base, state))
        return embedders[0]
    lap("photos")

    tick(0.1, "embed")
    reading = lambda done, total: tick(0.1 + 0.45 * done / total, "embed", done=done, total=total)  # noqa: E731
    feats, photos, skipped, embedded_new = features_of(list(merged.photos), embedder, preprocessing, cache,
                                                       cfg.batch_size, cfg.workers, reading)
    y = np.array([labels.index(p.label) for p in photos])
    split = np.array([p.split.value for p in photos])
    tr, va, te = (split == s.value for s in Split)
    no_train = [l for i, l in enumerate(labels) if not np.any(tr & (y == i))]
    if no_train:
        raise ValueError(f"classes {no_train} have no photo in the train split (the split is fixed by each "
                         "photo's hash, about 70 % land in train); add more photos of them")
    folder = _base_ood_folder(base) if cfg.ood_data == "base" else cfg.ood_data
    tune, report_half = ood_photos(Path(folder) if folder else None)
    f_ood = None
    if tune:
        f_ood, kept_ood, _, _ = features_of(tune + report_half, embedder, preprocessing, cache,
                                            cfg.batch_size, cfg.workers,
                                            lambda done, total: tick(0.55 + 0.05 * done / total, "embed_ood",
                                                                     done=done, total=total))
        tune_set = set(tune)
        is_tune = np.array([p in tune_set for p in kept_ood])
    lap("embed")

    tick(0.6, "fit")
    every = base.meta.training.all_photos  # the base learnt from every photo: so does this one
    fit_rows = np.ones(len(y), bool) if every else tr
    l2_grid = cfg.l2_grid or (base.meta.training.l2 or 1e-2,)
    init = warm_start(state, base_labels, labels, feats[fit_rows])
    recipe = replace(default_recipe(labels), l2=l2_grid[0], max_iter=cfg.max_iter)
    head = (recipe.fit(feats, y, len(labels), init=init) if every else
            fit_head(feats[tr], y[tr], feats[va], y[va], len(labels), l2_grid=l2_grid, max_iter=cfg.max_iter,
                     init=init))
    model = StateDict.with_head(state, head.weight, head.bias)
    lap("fit")

    tick(0.75, "calibrate")
    methods = (base.meta.ood_method,) if cfg.ood_methods == "base" else tuple(cfg.ood_methods)
    writers = {}
    if every:
        folds = assign_folds([p.sha256 for p in photos], duplicate_groups(feats), 0, base.meta.training.folds or FOLDS)
        embed_ood = lambda _: (f_ood, kept_ood, [])  # noqa: E731 (the same photos, embedded above)
        cal, ref, metrics, oof = calibrate_and_measure_oof(model, feats, y, split, folds, classes, recipe,
                                                           Path(folder) if tune else None, embed_ood, init, methods)
        writers[OOF_FILE] = lambda path: save_oof(path, [p.sha256 for p in photos], folds, oof)
        val, test = take(oof, va), take(oof, te)
    else:
        ref = ood.OodReference.fit(feats[tr], y[tr], len(labels))
        outputs = lambda f, truth: outputs_from_features(model, f, truth)  # noqa: E731
        ood_tune = outputs(f_ood[is_tune], None) if f_ood is not None else None
        ood_report = outputs(f_ood[~is_tune], None) if f_ood is not None else None
        val, test = outputs(feats[va], y[va]), outputs(feats[te], y[te])
        cal = calibrate(val, classes, ref, ood_tune, methods)
        metrics = measure(val, test, cal, classes, ref, ood_report)
    new_reports = _new_class_report(new_classes, labels, y, split, val, test, cal.temperature)
    for label, report in new_reports.items():  # too few test photos to tell: every photo tested once
        if report.test < MIN_TEST_PHOTOS:
            kfold = (_oof_class_recall(oof, label, labels, folds) if every else  # out-of-fold answers already do
                     kfold_class_recall(feats, y, [p.sha256 for p in photos], tr, label, labels, recipe))
            new_reports[label] = replace(report, kfold=kfold)
    metrics = replace(metrics, new_classes=new_reports)
    lap("calibrate")

    tick(0.85, "write")
    photo_set = PhotoSet(tuple(photos), tuple(labels), ())
    seconds = {k: round(clock[k] - clock[prev], 2) for prev, k in zip(
        ("start", "photos", "embed", "fit"), ("photos", "embed", "fit", "calibrate"))}
    meta = BundleMeta(
        version=Path(cfg.out).name, arch=base.meta.arch, labels=labels, preprocessing=preprocessing,
        temperature=cal.temperature, thresholds=cal.thresholds, ood_method=cal.ood_method,
        groups=snapshot.groups, appendices=snapshot.appendices, lookalikes=snapshot.lookalikes,
        catalogue_version=snapshot.version, metrics=metrics,
        training=Training(
            TrainingMode.QUICK_UPDATE, round(time.perf_counter() - clock["start"], 1), l2=head.l2,
            base=base.meta.version, backbone=backbone_id(base, state), ood_data=Path(folder) if folder else None,
            embedded_new=embedded_new, skipped=tuple((str(p.path), r) for p, r in skipped),
            all_photos=every, folds=int(folds.max()) + 1 if every else None,
            details={"base_mode": base.meta.training.mode.value, "added": merged.added, "removed": merged.removed,
                     "relabelled": merged.relabelled, "new_classes": list(new_classes),
                     "dropped_classes": list(dropped), "seconds": seconds,
                     "catalogue_dirs": [str(d) for d in cfg.catalogue_dirs]}),
        data_manifest=photo_set.manifest_hash(), counts=photo_set.counts(), sources=photo_set.sources(),
        parent=base.meta.version, photo_sides=photo_sides(photos),
    )
    bundle, plots = _write(cfg, base, meta, model, ref, photos, writers)
    lap("write")
    seconds["write"] = round(clock["write"] - clock["calibrate"], 2)
    seconds["total"] = round(clock["write"] - clock["start"], 2)
    record_fixed(cache, seconds["total"] - seconds["embed"])  # the next estimate's part besides reading
    tick(1.0, "done")
    return QuickUpdate(bundle, new_classes, dropped, merged.added, merged.removed, merged.relabelled,
                       embedded_new, tuple((str(p.path), r) for p, r in skipped), seconds, plots)


def _oof_class_recall(oof, label: str, labels, folds: np.ndarray) -> ClassRecall:
    """A class's recall over all its photos from out-of-fold answers (a k-fold recall)."""
    c = list(labels).index(label)
    rows = oof.y == c
    hits = int(np.sum(oof.logits[rows].argmax(1) == c))
    low, high = wilson(hits, int(rows.sum()))
    return ClassRecall(label, int(rows.sum()), hits, int(len(np.unique(folds[rows]))), hits / max(int(rows.sum()), 1),
                       low, high)


def _new_class_report(new_classes, labels, y, split, val, test, temperature) -> dict[str, NewClassReport]:
    """Per new class: photos per split and recall on its held-out (val + test) photos."""
    out = {}
    logits = np.concatenate([val.logits, test.logits])
    truth = np.concatenate([val.y, test.y])
    pred = softmax(logits, temperature).argmax(1)
    for label in new_classes:
        c = labels.index(label)
        held = truth == c
        counts = {s.value: int(np.sum((y == c) & (split == s.value))) for s in Split}
        out[label] = NewClassReport(**counts, heldout_n=int(held.sum()),
                                    heldout_recall=float(np.mean(pred[held] == c)) if held.any() else float("nan"))
    return out


def _write(cfg: QuickUpdateConfig, base: Bundle, meta: BundleMeta, model, ref, photos,
           writers=None) -> tuple[Bundle, threading.Thread | None]:
    from .card import publish_card, write_card

    with tempfile.TemporaryDirectory() as tmp:
        files: dict[str, Path] = {}
        if cfg.plots == "now":
            from .report import write_plots

            files.update(write_plots(meta, Path(tmp)))
        files["manifest.json"] = write_manifest(photos, Path(tmp) / "manifest.json")
        base_onnx = base.onnx_path if base.onnx_path.exists() else None
        files["model.onnx"] = export_with_head(model, meta.arch, meta.preprocessing.input_size,
                                               Path(tmp) / "model.onnx", base_onnx)
        files.update({name: write(Path(tmp) / name) for name, write in (writers or {}).items()})
        bundle = save_bundle(cfg.out, meta, model, ref, extra_files=files, export_onnx=False)
    write_card(bundle)
    if cfg.card_dir is not None:
        publish_card(bundle, cfg.card_dir)
    thread = None
    if cfg.plots == "background":
        thread = threading.Thread(target=add_plots, args=(bundle,), name=f"plots-{meta.version}")
        thread.start()
    return bundle, thread


def add_plots(bundle: Bundle) -> None:
    """Draw the confusion and reliability PNGs into a written bundle (each file renamed into place)."""
    import os

    from .report import write_plots

    try:
        with tempfile.TemporaryDirectory(dir=bundle.path.parent, prefix=f".{bundle.path.name}-plots-") as tmp:
            for name, path in write_plots(bundle.meta, Path(tmp)).items():
                os.chmod(path, 0o644)
                os.replace(path, bundle.path / name)
    except Exception:  # plots are for people; a failure must not lose the bundle
        log.exception("could not draw the plots of %s", bundle.path)
