"""`python -m train evaluate`: run a bundle on photos through the serving path and report.

The photos take the officer's path (the bundle's preprocessing, `ModelRunner`, the
temperature, the out-of-catalogue score and the bundle's own decision rule), so the
report says what officers would be told: classification metrics, the share of each
decision, and the release policy's effect on protected photos.
A bundle fitted on every photo (`train.every_photo`) has seen the photos of every split:
those photos are scored by its out-of-fold logits and out-of-catalogue scores (`oof.npz`,
from models that never saw them), the others through the serving path, and the report
says how many were which.
Writes `report.md`, `report.json`, `confusion_<split>.png` and `reliability_<split>.png`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from species_data.dataset import Photo, Split, scan
from species_data.atomic import write_text_atomic
from species_data.images import ImageDecodeError

from . import ood
from .bundle import Bundle
from .bundle_meta import DecisionShares
from .decision_rule import DecisionKind
from .every_photo import load_oof
from .head import softmax
from .metrics import Reliability, SplitMetrics, evaluate_probs, most_confused, reliability_bins
from .release import ReleaseReport, release_report
from .preprocess import load_input
from .report import plot_confusion, plot_reliability
from .runtime import ModelRunner, Outputs
from .typed_json import to_json


@dataclass(frozen=True)
class Evaluation:
    split: str
    metrics: SplitMetrics
    reliability: Reliability
    decisions: DecisionShares
    release: ReleaseReport
    skipped: list[tuple[str, str]]
    unknown_labels: list[str]
    out_of_fold: int = 0  # photos the model was fitted on, scored by its out-of-fold logits


def run_photos(runner: ModelRunner, photos: Sequence[Photo], batch_size: int = 32,
               progress: bool = True) -> tuple[Outputs, list[Photo], list[tuple[str, str]]]:
    cfg = runner.bundle.meta.preprocessing
    kept, skipped, chunks = [], [], []
    bar = tqdm(total=len(photos), desc="evaluating", unit="img", disable=not progress)
    for start in range(0, len(photos), batch_size):
        arrays = []
        for photo in photos[start:start + batch_size]:
            try:
                arrays.append(load_input(photo.path, cfg)[0])
                kept.append(photo)
            except ImageDecodeError as err:
                skipped.append((str(photo.path), err.reason))
        if arrays:
            chunks.append(runner.run(np.stack(arrays)))
        bar.update(min(batch_size, len(photos) - start))
    bar.close()
    if not chunks:
        raise ValueError("none of the photos could be read")
    merged = Outputs(*(np.concatenate([getattr(c, f) for c in chunks]) for f in ("logits", "features", "imagenet_logits")))
    return merged, kept, skipped


def evaluate(bundle_path: Path, data: Sequence[Path], split: str = "test", out: Path | None = None,
             backend: str = "auto", progress: bool = True) -> Evaluation:
    bundle = Bundle.load(bundle_path)
    labels = bundle.meta.labels
    photo_set = scan(data)
    unknown = sorted(set(photo_set.labels) - set(labels))
    photos = [p for p in photo_set.photos if p.label in labels and (split == "all" or p.split is Split(split))]
    if not photos:
        raise ValueError(f"no photos of the model's classes in the {split!r} split of {', '.join(map(str, data))}")
    meta = bundle.meta
    oof = load_oof(bundle.path)
    seen = [p for p in photos if oof is not None and p.sha256 in oof and oof.scores is not None]
    unseen = [p for p in photos if p not in seen]
    rows = oof.rows([p.sha256 for p in seen]) if seen else np.zeros(0, np.int64)
    logits = [oof.logits[rows]] if seen else []
    scores = [oof.scores[rows]] if seen else []
    kept, skipped = list(seen), []
    if unseen:
        outputs, kept_unseen, skipped = run_photos(ModelRunner(bundle, backend), unseen, progress=progress)
        logits.append(outputs.logits)
        scores.append(ood.scores(meta.ood_method, outputs.logits, outputs.features, outputs.imagenet_logits,
                                 meta.temperature, bundle.ood_reference()))
        kept += kept_unseen
    y = np.array([labels.index(p.label) for p in kept])
    logits, scores = np.concatenate(logits), np.concatenate(scores)
    probs = softmax(logits, meta.temperature)
    rule = meta.decision_rule()
    decided = rule.decide_many(probs, scores)
    shares = DecisionShares(n=len(y), **{kind.value: decided.share(kind) for kind in DecisionKind})
    result = Evaluation(split, evaluate_probs(probs, y, labels, meta.thresholds.identify), reliability_bins(probs, y),
                        shares, release_report(probs, y, rule, scores), skipped, unknown, len(seen))
    if out is not None:
        write_report(bundle, result, Path(out))
    return result


def write_report(bundle: Bundle, ev: Evaluation, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    m, d, r = ev.metrics, ev.decisions, ev.release
    plot_confusion(m.confusion, bundle.meta.labels, f"{bundle.meta.version}: {ev.split}", out / f"confusion_{ev.split}.png")
    plot_reliability(ev.reliability, f"{bundle.meta.version}: {ev.split}", out / f"reliability_{ev.split}.png")
    write_text_atomic(out / "report.json", json.dumps(to_json(ev), indent=1))
    lines = [f"# Evaluation of `{bundle.meta.version}` on the {ev.split} split", "",
             f"- photos: {m.n} (skipped {len(ev.skipped)}; classes not in the model: {ev.unknown_labels or 'none'})",
             f"- {ev.out_of_fold} of them were photos the model was fitted on: scored by its out-of-fold logits "
             "(heads that never saw them), the rest through the serving path",
             f"- top-1 {m.top1:.3f}, top-5 {m.top5:.3f}, macro-F1 {m.macro_f1:.3f}",
             f"- expected calibration error {m.ece:.3f}",
             f"- at threshold {m.threshold:.3f}: abstain {m.abstain_rate:.1%}, accuracy when answering {m.answered_accuracy:.3f}",
             f"- decisions as served: identified {d.identified:.1%}, group {d.group:.1%}, cannot rule out a "
             f"protected item {d.cannot_rule_out:.1%}, unknown {d.unknown:.1%}",
             f"- protected photos answered IDENTIFIED as a non-protected class: {r.released_with} of "
             f"{r.protected_photos} ({r.rate_with:.1%}); without the release policy {r.released_without} "
             f"({r.rate_without:.1%})",
             "", "| class | precision | recall | F1 | photos |", "|---|---|---|---|---|"]
    lines += [f"| {c.label} | {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} | {c.support} |" for c in m.per_class]
    lines += ["", "Most confused (true -> predicted: photos): " +
              "; ".join(f"{a} -> {b}: {n}" for a, b, n in most_confused(m, 8)), "",
              f"![confusion](confusion_{ev.split}.png)", f"![reliability](reliability_{ev.split}.png)", ""]
    return write_text_atomic(out / "report.md", "\n".join(lines))
