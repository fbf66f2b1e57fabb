"""`python -m train fit --mode head`: frozen backbone, cached embeddings, linear head.

The story of a fit, top to bottom:
  1. scan the photo folders (dedup by content hash, split by hash);
  2. embed every photo once (cached by hash and backbone);
  3. fit the linear head on train, pick its regularisation on validation;
  4. calibrate (temperature, thresholds, out-of-catalogue rule) on validation;
  5. measure on test, on held-out sources and on out-of-catalogue photos;
  6. write the bundle, its plots and its model card.

A re-fit with every photo already embedded builds no network: the frozen backbone's
weights and ONNX export come from `train.backbone_store`, and the held-out-source refits
run in a second process while calibration and plots run in the first (bench/fit_times.py).
"""
from __future__ import annotations

import logging
import time
import multiprocessing
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from species_data.dataset import PhotoSet, Split, scan, split_of

from . import ood
from .backbone import spec
from .backbone_store import BackboneStore
from .bundle import Bundle, BundleMeta, save_bundle
from .bundle_meta import HoldoutResult, Metrics, OodReport, PhotoSides, SourceHoldout, Training
from .config import TrainingConfig, TrainingMode
from .export import export_with_head
from .calibrate import Split3, calibrate, decision_shares, group_precision, operating_point, scores_of
from .crossval import HeadRecipe, assign_folds, default_recipe, duplicate_groups
from .every_photo import OOF_FILE, calibrate_oof, cv_report, head_folds, oof_outputs, save_oof, take
from .decision_rule import ClassGroups
from .embeddings import EmbeddingCache, embed_photos
from .head import fit_head, softmax
from .metrics import evaluate_probs, reliability_bins
from .preprocess import Preprocessing
from .release import release_report
from .snapshot import CatalogueSnapshot, catalogue_snapshot
from .weights import to_numpy

log = logging.getLogger(__name__)


def preprocessing_for(cfg: TrainingConfig) -> Preprocessing:
    """The backbone's preprocessing with the input size and crop the config asks for."""
    pre = spec(cfg.arch).preprocessing
    if cfg.input_size:
        pre = replace(pre, input_size=cfg.input_size)
    if cfg.crop_pct is not None:
        pre = replace(pre, crop_pct=cfg.crop_pct)  # validated by Preprocessing itself
    return pre


def ood_photos(folder: Path | None) -> tuple[list, list]:
    """Out-of-catalogue photos split by content hash into a tuning and a report half."""
    if folder is None:
        return [], []
    from species_data.dataset import Photo
    from species_data.images import content_hash, is_image_name

    tune, report = [], []
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and is_image_name(path):
            digest = content_hash(path.read_bytes())
            photo = Photo(path, "__ood__", digest, split_of(digest))
            (report if int(digest[16:24], 16) % 2 else tune).append(photo)
    return tune, report


def outputs_from_features(model, feats: np.ndarray, y: np.ndarray | None) -> Split3:
    """What the network outputs for photos with these features: both heads are linear.
    `model`: anything with a classifier's `state_dict()` (a network or a `StateDict`)."""
    state = model.state_dict()
    w, b, w_img, b_img = (to_numpy(state[k]) for k in ("head.weight", "head.bias", "imagenet_head.weight",
                                                       "imagenet_head.bias"))
    f = np.asarray(feats, np.float32)
    return Split3(f @ w.T + b, f, f @ w_img.T + b_img, y)


class LazyNetwork:
    """The pretrained network, built (and timm imported) on first use only."""

    def __init__(self, arch: str, classes: int) -> None:
        self.arch, self.classes = arch, classes
        self._model = None

    def get(self):
        """The `SpeciesClassifier` with the weight package's backbone and ImageNet head."""
        if self._model is None:
            from .model import SpeciesClassifier

            self._model = SpeciesClassifier.from_installed_weights(self.arch, self.classes)
        return self._model

    def backbone(self):
        return self.get().backbone


def source_holdout(feats: np.ndarray, y: np.ndarray, photos, photo_set: PhotoSet, head) -> SourceHoldout | None:
    """For each class with photos from 2+ sources: train without one source, test on it.

    Tells how well the model recognises a class in photos from a source it never saw.
    """
    by_class: dict[str, set[str]] = {}
    for p in photos:
        if p.source:
            by_class.setdefault(p.label, set()).add(p.source)
    results = {}
    labels = photo_set.labels
    is_train = np.array([p.split is Split.TRAIN for p in photos])
    for label, sources in sorted(by_class.items()):
        if len(sources) < 2:
            continue
        for source in sorted(sources):
            held = np.array([p.label == label and p.source == source for p in photos])
            train = is_train & ~held
            fitted = fit_head(feats[train], y[train], feats[:0], y[:0], len(labels), l2_grid=(head.l2,),
                              init=(head.std_weight, head.std_bias))
            logits = feats[held] @ fitted.weight.T + fitted.bias
            recall = float(np.mean(logits.argmax(1) == labels.index(label)))
            results[f"{label} <- {source}"] = HoldoutResult(int(held.sum()), recall)
    if not results:
        return None
    return SourceHoldout(results, float(np.mean([r.recall for r in results.values()])))


def class_groups(labels: list[str], snapshot: CatalogueSnapshot) -> ClassGroups:
    """Groups and look-alike families of `labels`, as the decision rule reads them."""
    return ClassGroups.build(labels, snapshot.groups, snapshot.protected, snapshot.lookalikes)


def calibrate_and_measure(model, feats: np.ndarray, y: np.ndarray, split: np.ndarray,
                          classes: ClassGroups, ood_folder: Path | None, embed_ood):
    """Steps 4-5 of every training mode, on features of the finished network:
    calibrate on validation, then measure on test and on held-out out-of-catalogue photos.
    `embed_ood(photos) -> (features, kept photos, skipped)` embeds with the same backbone."""
    tr, va, te = (split == s.value for s in Split)
    ref = ood.OodReference.fit(feats[tr], y[tr], len(classes.labels))
    tune, report_half = ood_photos(ood_folder)
    ood_tune = ood_report = None
    if tune:
        f_ood, kept_ood, _ = embed_ood(tune + report_half)
        is_tune = np.array([p in tune for p in kept_ood])
        ood_tune = outputs_from_features(model, f_ood[is_tune], None)
        ood_report = outputs_from_features(model, f_ood[~is_tune], None)
    val = outputs_from_features(model, feats[va], y[va])
    test = outputs_from_features(model, feats[te], y[te])
    cal = calibrate(val, classes, ref, ood_tune)
    metrics = measure(val, test, cal, classes, ref, ood_report)
    return cal, ref, metrics


def calibrate_and_measure_oof(model, feats: np.ndarray, y: np.ndarray, split: np.ndarray, folds: np.ndarray,
                              classes: ClassGroups, recipe: HeadRecipe, ood_folder: Path | None, embed_ood,
                              init=None, methods=ood.METHODS):
    """Steps 4-5 when the head learns from every photo (`train.every_photo`): calibrate on
    out-of-fold outputs, report the validation and test photos' out-of-fold outputs (the
    same photos as a split-trained model's, so the numbers compare) and every photo's.
    Returns (calibration, reference of all photos, metrics, every photo's out-of-fold outputs)."""
    imagenet = lambda f: outputs_from_features(model, f, None).imagenet_logits  # noqa: E731
    tune, report_half = ood_photos(ood_folder)
    ood_tune = ood_report = None
    if tune:
        f_ood, kept_ood, _ = embed_ood(tune + report_half)
        is_tune = np.array([p in tune for p in kept_ood])
        ood_tune = (f_ood[is_tune], imagenet(f_ood[is_tune]))
        ood_report = (f_ood[~is_tune], imagenet(f_ood[~is_tune]))
    fold_list = head_folds(feats, y, imagenet(feats), folds, len(classes.labels), recipe, ood_tune, ood_report, init)
    cal = calibrate_oof(fold_list, classes, methods)
    oof, report = oof_outputs(fold_list, cal)
    va, te = (split == s.value for s in (Split.VAL, Split.TEST))
    metrics = replace(measure(take(oof, va), take(oof, te), cal, classes, None, report),
                      cv=cv_report(oof, cal, classes, int(folds.max()) + 1))
    return cal, ood.OodReference.fit(feats, y, len(classes.labels)), metrics, oof


def measure(val: Split3, test: Split3, cal, classes: ClassGroups, ref, ood_report: Split3 | None) -> Metrics:
    """Step 5 of every training mode and of the quick update: the calibrated model on
    validation and test, its decisions, what its release policy avoids and costs, and
    how it flags held-out out-of-catalogue photos."""
    labels = list(classes.labels)
    probs_test = softmax(test.logits, cal.temperature)
    s_test = scores_of(test, cal, ref)
    report = OodReport(cal.ood_method, dict(cal.ood_report["auroc_tune"]), flagged_tune=dict(cal.ood_report["flagged_tune"]))
    if ood_report is not None and len(ood_report.logits):
        report = replace(report, report_photos=decision_shares(ood_report, cal, classes, ref),
                         auroc_report=ood.auroc(s_test, scores_of(ood_report, cal, ref)),
                         held_out_operating_point=operating_point(test, ood_report, cal, classes, ref))
    return Metrics(
        val=evaluate_probs(softmax(val.logits, cal.temperature), val.y, labels, cal.thresholds.identify),
        test=evaluate_probs(probs_test, test.y, labels, cal.thresholds.identify),
        decisions_test=decision_shares(test, cal, classes, ref),
        ood=report,
        reliability_test=reliability_bins(probs_test, test.y),
        release_val=dict(cal.release),
        release_test=release_report(probs_test, test.y, cal.rule(classes), s_test),
        group_precision_test=group_precision(test, cal, classes, ref),
    )


def _background_pool() -> Executor:
    """A worker for the held-out-source refits, on the other core while this one calibrates
    and draws: a forked process (numpy and scipy only, so forking is safe; no GIL shared),
    or a thread where fork does not exist."""
    if "fork" in multiprocessing.get_all_start_methods():
        return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    return ThreadPoolExecutor(1, thread_name_prefix="source-holdout")


def fit(cfg: TrainingConfig) -> Bundle:
    t0 = time.perf_counter()
    photo_set = scan(cfg.data, cfg.classes)
    labels = list(photo_set.labels)
    snapshot = catalogue_snapshot(labels, cfg.catalogue_dirs)
    log.info("%d photos in %d classes", len(photo_set.photos), len(labels))
    network = LazyNetwork(cfg.arch, len(labels))
    preprocessing = preprocessing_for(cfg)
    cache = EmbeddingCache.for_backbone(cfg.data_dir, cfg.arch, preprocessing)
    store = BackboneStore.beside(cache.root)

    new_embeddings = sum(cache.get(p.sha256) is None for p in photo_set.photos)
    feats, photos, skipped = embed_photos(photo_set.photos, network.backbone, preprocessing, cache,
                                          cfg.batch_size, cfg.workers, cfg.progress)
    y = np.array([labels.index(p.label) for p in photos])
    split = np.array([p.split.value for p in photos])
    t_embed = time.perf_counter() - t0

    tr, va = split == Split.TRAIN.value, split == Split.VAL.value
    recipe = default_recipe(labels)
    head = recipe.fit(feats, y, len(labels)) if cfg.all_photos else fit_head(feats[tr], y[tr], feats[va], y[va],
                                                                             len(labels))
    if not store.complete():  # the first fit over this backbone: convert and export it once
        store.save(network.get(), preprocessing.input_size)
    classifier = store.classifier(head.weight, head.bias)

    with _background_pool() as pool:
        holdout = pool.submit(source_holdout, feats, y, photos, photo_set, head)
        embed_ood = lambda ood_list: embed_photos(ood_list, network.backbone, preprocessing, cache,  # noqa: E731
                                                  cfg.batch_size, cfg.workers, cfg.progress)
        classes = class_groups(labels, snapshot)
        writers, every = {}, {}
        if cfg.all_photos:
            twins = duplicate_groups(feats)
            folds = assign_folds([p.sha256 for p in photos], twins, 0, cfg.folds)
            # each fold's fit starts from the head on every photo: the same convex optimum (L2), reached in
            # fewer L-BFGS steps (a quick update starts its folds from its base head the same way)
            cal, ref, metrics, oof = calibrate_and_measure_oof(classifier, feats, y, split, folds, classes, recipe,
                                                               cfg.ood_data, embed_ood,
                                                               init=(head.std_weight, head.std_bias))
            writers[OOF_FILE] = lambda path: save_oof(path, [p.sha256 for p in photos], folds, oof)
            every = {"recipe": {"l2": recipe.l2, "balance": recipe.balance, "class_scale": list(recipe.class_scale)},
                     "near_duplicate_groups": int(len(np.unique(twins)))}
        else:
            cal, ref, metrics = calibrate_and_measure(classifier, feats, y, split, classes, cfg.ood_data, embed_ood)
        t_total = time.perf_counter() - t0
        meta = BundleMeta(
            version=Path(cfg.out).name, arch=cfg.arch, labels=labels, preprocessing=preprocessing,
            temperature=cal.temperature, thresholds=cal.thresholds, ood_method=cal.ood_method,
            groups=snapshot.groups, appendices=snapshot.appendices, lookalikes=snapshot.lookalikes,
            catalogue_version=snapshot.version, metrics=metrics,
            training=Training(TrainingMode.HEAD, round(t_total, 1), config=cfg, l2=head.l2, ood_data=cfg.ood_data,
                              embedded_new=new_embeddings, skipped=tuple((str(p.path), r) for p, r in skipped),
                              all_photos=cfg.all_photos, folds=cfg.folds if cfg.all_photos else None,
                              details={"seconds_embed": round(t_embed, 1), **every}),
            data_manifest=photo_set.manifest_hash(), counts=photo_set.counts(), sources=photo_set.sources(),
            photo_sides=photo_sides(photos),
        )
        return finish_bundle(cfg, meta, classifier, ref, photos, store, {"source_holdout": holdout}, writers)


def photo_sides(photos) -> PhotoSides | None:
    """The short side of each photo, read from its header (no decoding; unreadable ones skipped)."""
    from PIL import Image

    sides = []
    for p in photos:
        try:
            with Image.open(p.path) as image:
                sides.append(min(image.size))
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
    if not sides:
        return None
    p10, median, p90 = (int(v) for v in np.percentile(sides, [10, 50, 90]))
    return PhotoSides(len(sides), p10, median, p90)


def write_manifest(photos, path: Path) -> Path:
    """Which photos (by content hash) a bundle was trained and measured on, so a quick
    update can refit on the same photos plus new ones, and compare on the same split."""
    import json

    rows = [{"sha256": p.sha256, "label": p.label, "split": p.split.value, "path": str(p.path.resolve()), "source": p.source}
            for p in photos]
    path.write_text(json.dumps(rows))
    return path


def finish_bundle(cfg: TrainingConfig, meta: BundleMeta, model, ref, photos, store: BackboneStore | None = None,
                  pending: dict[str, Future] | None = None,
                  writers: dict[str, Callable[[Path], Path]] | None = None) -> Bundle:
    """Plots, bundle, model card: the same ending for every training mode.

    `store`: patch the species head into its stored export instead of exporting `model`
    afresh. `pending`: metrics still being measured (on another thread) while the plots
    are drawn; they are added to `meta.metrics` before the bundle is written. `writers`:
    more bundle files, each written by its function to the path it is given."""
    import tempfile

    from .card import publish_card, write_card
    from .report import write_plots

    with tempfile.TemporaryDirectory() as tmp:
        files = write_plots(meta, Path(tmp))
        files["manifest.json"] = write_manifest(photos, Path(tmp) / "manifest.json")
        files["model.onnx"] = export_with_head(model, meta.arch, meta.preprocessing.input_size,
                                               Path(tmp) / "model.onnx", store.onnx_path if store else None)
        files.update({name: write(Path(tmp) / name) for name, write in (writers or {}).items()})
        if pending:
            meta.metrics = replace(meta.metrics, **{key: future.result() for key, future in pending.items()})
        bundle = save_bundle(cfg.out, meta, model, ref, extra_files=files, export_onnx=False)
    write_card(bundle)
    if cfg.card_dir is not None:
        publish_card(bundle, cfg.card_dir)
    return bundle
