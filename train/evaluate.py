"""`python -m train evaluate`: run a bundle on photos through the serving path and report.

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
from species_data.images import ImageDecodeError

from .bundle import Bundle
from .head import softmax
from .metrics import evaluate_probs, most_confused, reliability_bins
from .preprocess import load_input
from .report import plot_confusion, plot_reliability
from .runtime import ModelRunner, Outputs


@dataclass(frozen=True)
class Evaluation:
    split: str
    metrics: dict
    reliability: dict
    skipped: list[tuple[str, str]]
    unknown_labels: list[str]


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
    outputs, kept, skipped = run_photos(ModelRunner(bundle, backend), photos, progress=progress)
    y = np.array([labels.index(p.label) for p in kept])
    probs = softmax(outputs.logits, bundle.meta.temperature)
    metrics = evaluate_probs(probs, y, labels, bundle.meta.thresholds.identify)
    result = Evaluation(split, metrics.to_dict(), reliability_bins(probs, y), skipped, unknown)
    if out is not None:
        write_report(bundle, result, Path(out))
    return result


def write_report(bundle: Bundle, ev: Evaluation, out: Path) -> Path:
    from .metrics import Metrics

    out.mkdir(parents=True, exist_ok=True)
    m = Metrics.from_dict(ev.metrics)
    plot_confusion(m.confusion, bundle.meta.labels, f"{bundle.meta.version}: {ev.split}", out / f"confusion_{ev.split}.png")
    plot_reliability(ev.reliability, f"{bundle.meta.version}: {ev.split}", out / f"reliability_{ev.split}.png")
    (out / "report.json").write_text(json.dumps({"split": ev.split, "metrics": ev.metrics, "reliability": ev.reliability,
                                                 "skipped": ev.skipped, "unknown_labels": ev.unknown_labels}, indent=1))
    lines = [f"# Evaluation of `{bundle.meta.version}` on the {ev.split} split", "",
             f"- photos: {m.n} (skipped {len(ev.skipped)}; classes not in the model: {ev.unknown_labels or 'none'})",
             f"- top-1 {m.top1:.3f}, top-5 {m.top5:.3f}, macro-F1 {m.macro_f1:.3f}",
             f"- expected calibration error {m.ece:.3f}",
             f"- at threshold {m.threshold:.3f}: abstain {m.abstain_rate:.1%}, accuracy when answering {m.answered_accuracy:.3f}",
             "", "| class | precision | recall | F1 | photos |", "|---|---|---|---|---|"]
    lines += [f"| {c.label} | {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} | {c.support} |" for c in m.per_class]
    lines += ["", "Most confused (true -> predicted: photos): " +
              "; ".join(f"{a} -> {b}: {n}" for a, b, n in most_confused(m, 8)), "",
              f"![confusion](confusion_{ev.split}.png)", f"![reliability](reliability_{ev.split}.png)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
