"""The README's accuracy tables, generated from bundle and benchmark JSON (never typed by hand).

Reads `bench/results/default_model.json` (the published bundle's numbers, written by
`--model data/models/current`), `bench/results/accuracy_cv.json` (`python bench/accuracy_cv.py
--json ...`) and `bench/results/partial_finetune.json` (`python bench/partial_finetune.py
--json ...`), and writes the block between `<!-- accuracy:begin -->` and `<!-- accuracy:end -->`
in README.md: the default model, the issue-16 targets with their 95 % intervals, and every
lever tried with its cost and the protocol's verdict. `tests/test_accuracy_tables.py` fails
when the README and the JSON disagree.

    python scripts/accuracy_tables.py --model data/models/current   # snapshot the published model, rewrite
    python scripts/accuracy_tables.py                                # rewrite the README block
    python scripts/accuracy_tables.py --check                        # exit 1 if it is out of date
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BEGIN, END = "<!-- accuracy:begin -->", "<!-- accuracy:end -->"
LEVERS = RESULTS / "accuracy_cv.json"  # the levers against the adopted default recipe
SELECTION = RESULTS / "accuracy_cv_selection.json"  # every lever against v1's recipe (chose the default)
PARTIAL = RESULTS / "partial_finetune.json"
MODEL = RESULTS / "default_model.json"


def snapshot(bundle_dir: Path) -> dict:
    """The numbers of a bundle the README shows (`bench/results/default_model.json`)."""
    sys.path.insert(0, str(ROOT))
    from train.bundle import Bundle
    from train.card import IVORY_CLASSES

    meta = Bundle.load(bundle_dir).meta
    m, t = meta.metrics, meta.training
    cv = m.cv
    point = m.ood.held_out_operating_point
    release = cv.release if cv else m.release_test
    return {
        "version": meta.version, "created": meta.created_at, "arch": meta.arch,
        "input_size": meta.preprocessing.input_size, "photos": sum(sum(c.values()) for c in meta.counts.values()),
        "classes": len(meta.labels), "all_photos": t.all_photos, "folds": t.folds,
        "seconds_total": t.seconds_total,
        "test": {"n": m.test.n, "top1": m.test.top1, "top5": m.test.top5, "macro_f1": m.test.macro_f1,
                 "ece": m.test.ece, "abstain": m.test.abstain_rate, "answered": m.test.answered_accuracy,
                 "ivory5": m.test.subset_accuracy(IVORY_CLASSES)},
        "cv": None if cv is None else {"n": cv.metrics.n, "top1": cv.metrics.top1, "top5": cv.metrics.top5,
                                       "ece": cv.metrics.ece, "ivory5": cv.metrics.subset_accuracy(IVORY_CLASSES),
                                       "abstain": cv.metrics.abstain_rate, "answered": cv.metrics.answered_accuracy,
                                       "decisions": {"identified": cv.decisions.identified, "group": cv.decisions.group,
                                                     "cannot_rule_out": cv.decisions.cannot_rule_out,
                                                     "unknown": cv.decisions.unknown},
                                       "group_precision": {"right": cv.group_precision.right,
                                                           "n": cv.group_precision.n, "low": cv.group_precision.low,
                                                           "high": cv.group_precision.high}},
        "release": {"protected_photos": release.protected_photos, "released_without": release.released_without,
                    "released_with": release.released_with,
                    "families": [{"family": f.family, "threshold": f.threshold, "harmless_photos": f.harmless_photos,
                                  "identified_without": f.identified_without, "identified_with": f.identified_with}
                                 for f in release.families]},
        "ood": {"method": m.ood.method, "auroc_report": m.ood.auroc_report,
                "point": None if point is None else {"in": point.in_catalogue_unknown,
                                                     "out": point.out_of_catalogue_unknown, "budget": point.budget}},
        "heldout_sources": m.source_holdout.mean_recall if m.source_holdout else None,
    }


def _pct(x) -> str:
    return "n/a" if x is None or x != x else f"{100 * x:.1f} %"


def model_table(d: dict) -> list[str]:
    cv, test, r = d["cv"], d["test"], d["release"]
    scope = (f"fitted on all {d['photos']} photos, every number out of fold ({d['folds']} folds)" if d["all_photos"]
             else "fitted on the train split")
    lines = [f"`{d['version']}`: head mode, {d['arch']} at {d['input_size']} px, {d['classes']} classes, {scope}; "
             f"fit {d['seconds_total']:.0f} s (`model_cards/{d['version']}.md` has every number).", "",
             _row(("measure", "value")), "|---|---|"]
    add = lambda k, v: lines.append(_row((k, v)))  # noqa: E731
    if cv:
        add("cross-validation top-1 / top-5 / ECE (every photo)", f"{cv['top1']:.3f} / {cv['top5']:.3f} / {cv['ece']:.3f}")
        add("cross-validation: ivory and its four look-alikes", f"{cv['ivory5']:.3f}")
        add("cross-validation decisions: identified / group / cannot rule out / unknown",
            " / ".join(_pct(cv["decisions"][k]) for k in ("identified", "group", "cannot_rule_out", "unknown")))
        g = cv["group_precision"]
        add("precision of GROUP answers (true class in the group named)",
            f"{g['right']} of {g['n']} ({_pct(g['right'] / g['n'] if g['n'] else None)}, 95 % {_pct(g['low'])}–{_pct(g['high'])})")
    add(f"test split ({test['n']} photos) top-1 / top-5 / macro-F1", f"{test['top1']:.3f} / {test['top5']:.3f} / "
        f"{test['macro_f1']:.3f}")
    add("test split: ivory and its four look-alikes", f"{test['ivory5']:.3f}")
    add("at the identify threshold: abstain / accuracy when answering (test)",
        f"{_pct(test['abstain'])} / {_pct(test['answered'])}")
    add("protected photos answered IDENTIFIED as a non-protected class, without → with the release policy",
        f"{r['released_without']} → {r['released_with']} of {r['protected_photos']} "
        f"({_pct(r['released_without'] / r['protected_photos'])} → {_pct(r['released_with'] / r['protected_photos'])})")
    for f in r["families"]:
        add(f"cost: harmless photos of `{f['family']}` still IDENTIFIED",
            f"{f['identified_without']} → {f['identified_with']} (threshold "
            f"{'none: cannot rule out' if f['threshold'] is None else round(f['threshold'], 4)})")
    o = d["ood"]
    if o["point"]:
        add(f"out-of-catalogue (`{o['method']}`, AUROC {o['auroc_report']:.3f}): UNKNOWN at <= "
            f"{_pct(o['point']['budget'])} in-catalogue UNKNOWN (test)",
            f"{_pct(o['point']['in'])} → {_pct(o['point']['out'])}")
    add("held-out sources (mean recall, trained on the train split without that source)",
        "n/a" if d["heldout_sources"] is None else f"{d['heldout_sources']:.3f}")
    return lines


def _interval(e: dict, percent: bool = False) -> str:
    if e is None or e.get("value") is None or e["value"] != e["value"]:
        return "n/a"
    if percent:
        return f"{100 * e['value']:.1f} % [{100 * e['low']:.1f}, {100 * e['high']:.1f}]"
    return f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def targets(levers: dict, runs: list[dict], partial: dict | None) -> list[str]:
    v1 = levers["candidates"][levers["default"]]["estimates"]
    every = [(n, c["estimates"]) for run in runs for n, c in run["candidates"].items()]
    best = {m: max(((n, e[m]) for n, e in every), key=lambda t: t[1]["value"] * (-1 if m == "released" else 1))
            for m in v1}
    rows = [
        ("protected photos answered IDENTIFIED as a non-protected class", "<= 0.5 %", v1["released"], True),
        ("ivory and its four look-alikes (top-1)", ">= 0.75", v1["ivory5"], False),
        ("elephant-ivory recall (summed ivory probability >= 0.5)", ">= 0.80", v1["ivory_recall"], False),
        ("top-1", ">= 0.889", v1["top1"], False),
        ("held-out sources (mean recall)", ">= 0.44", v1["heldout"], False),
        ("out-of-catalogue UNKNOWN at <= 5 % in-catalogue UNKNOWN", ">= 85 %", v1["ood_at_budget"], True),
    ]
    keys = ["released", "ivory5", "ivory_recall", "top1", "heldout", "ood_at_budget"]
    lines = [_row(("target", "goal", "default recipe, CV", "best lever measured")), "|---|---|---|---|"]
    for (name, goal, est, pct), key in zip(rows, keys):
        lever, e = best[key]
        lines.append(_row((name, goal, _interval(est, pct), f"{_interval(e, pct)} ({lever})")))
    if partial:
        cpu = (f"; {partial['cpu_minutes']:.1f} CPU-minutes, load {partial['load_average']}"
               if "cpu_minutes" in partial else "")
        lines.append(_row(("background fine-tune from warm caches (5-fold CV + final training)", "<= 10 min",
                           f"{partial['minutes_from_warm_caches']:.1f} min wall{cpu}", "")))
    return lines


def lever_table(levers: dict) -> list[str]:
    """Every lever of one run, with its cost and the protocol's verdict against that run's default."""
    lines = [_row(("lever", "CV top-1", "ivory + 4 look-alikes", "elephant-ivory recall", "protected released",
                   "held-out sources", "out-of-cat. UNKNOWN at <= 5 %", "passes", "extra ms/photo", "verdict")),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, c in levers["candidates"].items():
        e = c["estimates"]
        extra = c.get("extra_ms_per_photo")
        lines.append(_row((name, _interval(e["top1"]), _interval(e["ivory5"]), _interval(e["ivory_recall"]),
                           _interval(e["released"], True), _interval(e["heldout"]),
                           _interval(e["ood_at_budget"], True), c["forward_passes"],
                           "n/a" if extra is None else f"+{extra:.1f}", c["verdict"])))
    return lines


def _about(run: dict) -> str:
    return (f"`python bench/accuracy_cv.py`, {run['repeats']} x 5-fold CV over {run['photos']} photos, "
            f"{run['date']}; 95 % intervals; McNemar against `{run['default']}`, Holm-adjusted")


def block() -> str:
    levers = json.loads(LEVERS.read_text())
    selection = json.loads(SELECTION.read_text()) if SELECTION.exists() else None
    partial = json.loads(PARTIAL.read_text()) if PARTIAL.exists() else None
    model = json.loads(MODEL.read_text())
    runs = [levers] + ([selection] if selection else [])
    parts = [BEGIN, "Generated by `python scripts/accuracy_tables.py` from `bench/results/*.json`.", "",
             *model_table(model), "",
             f"Issue 16 targets, for the default recipe ({_about(levers)}), beside the best any lever reached:", "",
             *targets(levers, runs, partial)]
    if selection:
        parts += ["", f"Every lever against v1's recipe ({_about(selection)}): the run that chose the default "
                      "(errors on elephant ivory cost twice; the other winners need more than one network per "
                      "photo, see below):", "", *lever_table(selection)]
    parts += ["", f"The strongest levers against the adopted default ({_about(levers)}):", "", *lever_table(levers)]
    if partial:
        parts += ["", f"Partial fine-tune (`python bench/partial_finetune.py`, {partial['date']}): verdict "
                      f"{'ADOPT' if partial['adopted'] else 'keep the head model'} ({partial['verdict']}); "
                      f"epochs kept per fold {partial['epochs_per_fold']}."]
    return "\n".join(parts + [END])


def render(readme: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} block; add the two markers where the tables go")
    head, rest = readme.split(BEGIN, 1)
    return head + block() + rest.split(END, 1)[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 when README.md is out of date")
    p.add_argument("--model", type=Path, default=None, help="snapshot this bundle into bench/results/default_model.json")
    args = p.parse_args(argv)
    if args.model is not None:
        MODEL.parent.mkdir(parents=True, exist_ok=True)
        MODEL.write_text(json.dumps(snapshot(args.model), indent=1) + "\n")
    path = ROOT / "README.md"
    now = path.read_text(encoding="utf-8")
    want = render(now)
    if args.check:
        if now != want:
            print("README.md accuracy tables are out of date: run python scripts/accuracy_tables.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(want, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
