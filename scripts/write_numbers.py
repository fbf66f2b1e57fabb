"""Write the README's number tables from their sources, so no number is typed by hand.

Sources: the published model's metadata (`model_cards/<version>.json`, written by
`python -m train publish <version> --card-dir model_cards` beside its card) and the
benchmarks' JSON output (`bench/results/<script>.json`: `python bench/run_all.py
--json-dir bench/results`, `python bench/release_policy.py --json bench/results/release_policy.json`,
`python bench/accuracy_cv.py --json bench/results/accuracy_cv.json`, `python bench/partial_finetune.py
--json bench/results/partial_finetune.json`).
Each generated block in README.md sits between `<!-- numbers:NAME -->` and
`<!-- /numbers:NAME -->`; everything outside the blocks is left alone.

    python scripts/write_numbers.py            # rewrite the blocks
    python scripts/write_numbers.py --check    # exit 1 if README.md differs (tests/test_numbers.py)
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

README = ROOT / "README.md"
CARDS = ROOT / "model_cards"
RESULTS = ROOT / "bench" / "results"
DEFAULT_MODEL = "v1"
BLOCK = re.compile(r"(<!-- numbers:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /numbers:(?P=name) -->)", re.S)


def _pct(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{100 * x:.1f} %"


def published(version: str = DEFAULT_MODEL):
    from train.bundle_meta import BundleMeta

    return BundleMeta.from_dict(json.loads((CARDS / f"{version}.json").read_text()))


def bench(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _target(report: dict, name: str) -> float:
    return next(t["value"] for t in report["targets"] if t["name"] == name)


def model_block(meta) -> str:
    m, th = meta.metrics, meta.thresholds
    ood, point, shares = m.ood, m.ood.held_out_operating_point, m.decisions_test
    families = meta.decision_rule().classes.families
    chosen_on = "out of fold" if meta.training.all_photos else "on validation"
    test, cv = m.test, m.cv
    rows = []
    if cv:
        c, g = cv.metrics, cv.group_precision
        rows += [(f"cross-validation over every photo ({c.n}): top-1 / top-5 / ECE",
                  f"{c.top1:.3f} / {c.top5:.3f} / {c.ece:.3f}")]
        rows += [(f"cross-validation: look-alike family {', '.join(f.protected + f.harmless)}",
                  f"{c.subset_accuracy(f.protected + f.harmless):.3f}") for f in families]
        d = cv.decisions
        rows.append(("cross-validation, as served: identified / group / cannot rule out a protected item / unknown",
                     f"{_pct(d.identified)} / {_pct(d.group)} / {_pct(d.cannot_rule_out)} / {_pct(d.unknown)}"))
        if g is not None and g.n:
            rows.append(("cross-validation: GROUP answers whose group holds the true class",
                         f"{g.right} of {g.n} ({_pct(g.precision)}, 95 % interval {_pct(g.low)}–{_pct(g.high)})"))
    rows += [("test top-1 / top-5 / macro-F1", f"{test.top1:.3f} / {test.top5:.3f} / {test.macro_f1:.3f}")]
    rows += [(f"look-alike family {', '.join(f.protected + f.harmless)}: test accuracy",
              f"{m.test.subset_accuracy(f.protected + f.harmless):.3f}") for f in families]
    rows += [("expected calibration error (test, after temperature scaling)", f"{m.test.ece:.3f}"),
             (f"at the identify threshold ({th.identify:.3f}, 95 % precision {chosen_on}): abstain / accuracy "
              "when answering (test)", f"{_pct(m.test.abstain_rate)} / {_pct(m.test.answered_accuracy)}")]
    if ood.auroc_report is not None:
        rows.append(("out-of-catalogue score (chosen on a tuning half of `photos_ood` among "
                     f"{', '.join(ood.auroc_tune)})",
                     f"`{ood.method}`, AUROC {ood.auroc_report:.3f} on the held-out half"))
    if point:
        rows.append((f"held-out operating point: in-catalogue test photos UNKNOWN ≤ {_pct(point.budget)} → "
                     "out-of-catalogue photos UNKNOWN",
                     f"{_pct(point.in_catalogue_unknown)} → {_pct(point.out_of_catalogue_unknown)}"))
    if ood.report_photos:
        rows.append((f"as served (the one decision rule, thresholds chosen {chosen_on}): in-catalogue test "
                     "UNKNOWN / out-of-catalogue UNKNOWN",
                     f"{_pct(shares.unknown)} / {_pct(ood.report_photos.unknown)}"))
    rows.append(("as served, test photos: identified / group / cannot rule out a protected item / unknown",
                 f"{_pct(shares.identified)} / {_pct(shares.group)} / {_pct(shares.cannot_rule_out)} / "
                 f"{_pct(shares.unknown)}"))
    if m.source_holdout:
        rows.append(("held-out sources (class trained without one of its sources, mean recall on it)",
                     f"{m.source_holdout.mean_recall:.2f} — photos from an unseen source are much harder"))
    scope = (f"fitted on all {sum(sum(c.values()) for c in meta.counts.values())} photos, every number out of "
             f"fold ({meta.training.folds} folds; the test rows are the out-of-fold answers for the {m.test.n} "
             "photos of the hash split's test part)" if meta.training.all_photos
             else f"hash split 70/15/15; the test split has {m.test.n} photos")
    head = (f"`model_cards/{meta.version}.md` (generated from the bundle). Head mode, {meta.arch} at "
            f"{meta.preprocessing.input_size} px, on the {len(meta.labels)} classes of `../shared/photos` "
            f"({scope}):\n")
    return head + "\n" + _table(("measure", "value"), rows)


def release_block(meta, cv: dict | None) -> str:
    val, test = meta.metrics.release_val, meta.metrics.release_test
    rows = []
    for fam in meta.decision_rule().classes.families:
        t, v = meta.thresholds.release.get(fam.id), val.get(fam.id)
        tf = next((f for f in test.families if f.family == fam.id), None) if test else None
        rows.append((f"{', '.join(fam.protected)} / {', '.join(fam.harmless)}",
                     "never (cannot rule out)" if t is None else f"{t:.4f}",
                     f"{v.released_without} → {v.released_with} of {v.protected_photos}" if v else "n/a",
                     f"{v.identified_without} → {v.identified_with} of {v.harmless_photos}" if v else "n/a",
                     f"{tf.identified_without} → {tf.identified_with}" if tf else "n/a"))
    where = "out of fold" if meta.training.all_photos else "validation"
    text = _table(("family (protected / harmless)", f"release threshold ({where})",
                   "validation: protected released, without → with", "validation: harmless IDENTIFIED, without → with",
                   "test: harmless IDENTIFIED, without → with"), rows)
    if test:
        text += ("\nProtected photos answered IDENTIFIED as a non-protected class, test split: "
                 f"{test.released_without} of {test.protected_photos} ({_pct(test.rate_without)}) without the "
                 "release policy, "
                 f"{test.released_with} ({_pct(test.rate_with)}) with it.")
    if cv:
        v = cv["values"]
        costs = [f"{f.id} {int(v[f'{f.id}.identified_without'] - v[f'{f.id}.identified_with'])} of "
                 f"{int(v[f'{f.id}.identified_without'])}" for f in meta.decision_rule().classes.families
                 if f"{f.id}.identified_without" in v]
        text += (f" In 5-fold cross-validation over all {int(v['protected'])} protected photos "
                 "(`python bench/release_policy.py`, thresholds chosen on the other folds): "
                 f"{int(v['released_without'])} ({_pct(v['rate_without'])}) without the policy (the rule v1 "
                 "served before) and "
                 f"{int(v['released_with'])} ({_pct(v['rate_with'])}) with it; the cost, harmless photos no longer "
                 f"IDENTIFIED: {'; '.join(costs)}.")
    return text + "\n"


def performance_block() -> str:
    rows = []
    fit = bench("fit_times")
    if fit:
        first, again = _target(fit, "fit first run (empty cache)"), _target(fit, "fit re-run (cached)")
        rows.append(("`python -m train fit` first run over all photos / re-run with the cache",
                     f"{first:.1f} s / {again:.1f} s wall"))
        rows.append(("quick update with new photos (trainer)", f"{_target(fit, 'quick update with new photos'):.1f} s"))
    lat = bench("identify_latency")
    if lat:
        v = lat["values"]
        rows.append(("12 MP JPEG → decision, median (naive pipeline in the same run)",
                     f"{v['fast_ms']:.1f} ms ({v['naive_ms']:.1f} ms, {v['speedup']:.1f}× faster)"))
        rows.append(("dataset photo → decision, median", f"{v['dataset_photo_ms']:.1f} ms"))
    batch = bench("batch_throughput")
    if batch:
        rate = _target(batch, "batch identification over ../shared/photos")
        rows.append(("batch identification", f"{rate:.0f} photos/s"))
    mem = bench("serving_memory")
    if mem:
        v = mem["values"]
        peak = _target(mem, "serving process peak resident memory")
        rows.append((f"the app (`python -m serve`): peak resident memory after warm-up and "
                     f"{int(v['identifications'])} identifications with heat maps",
                     f"{peak:.0f} MB" + (" (torch never loaded)" if not v["torch_loaded"] else " (torch loaded)")))
        rows.append(("the app: launch → serving", f"{v['serving_s']:.1f} s"))
    reports = [r for r in (fit, lat, batch, mem) if r]
    note = (f"\nMeasured on {reports[0]['cpu']}, load average (1/5/15 min) at the start of each benchmark: "
            f"{'; '.join(r['load_average'] for r in reports)} (a shared machine).\n") if reports else ""
    return _table(("measure", "value"), rows) + note


def _interval(e: dict | None, percent: bool = False) -> str:
    if e is None or e.get("value") is None or e["value"] != e["value"]:
        return "n/a"
    if percent:
        return f"{100 * e['value']:.1f} % [{100 * e['low']:.1f}, {100 * e['high']:.1f}]"
    return f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"


TARGETS = (  # issue 16: (name, goal, estimate key, shown as a percentage, lower is better)
    ("protected photos answered IDENTIFIED as a non-protected class", "<= 0.5 %", "released", True, True),
    ("ivory and its four look-alikes (top-1)", ">= 0.75", "ivory5", False, False),
    ("elephant-ivory recall (summed ivory probability >= 0.5)", ">= 0.80", "ivory_recall", False, False),
    ("top-1", ">= 0.889", "top1", False, False),
    ("held-out sources (mean recall)", ">= 0.44", "heldout", False, False),
    ("out-of-catalogue UNKNOWN at <= 5 % in-catalogue UNKNOWN", ">= 85 %", "ood_at_budget", True, False),
)


def _about(run: dict) -> str:
    return (f"`python bench/accuracy_cv.py`, {run['repeats']} x 5-fold CV over {run['photos']} photos, "
            f"{run['date']}; 95 % intervals; McNemar against `{run['default']}`, Holm-adjusted")


def lever_table(run: dict) -> str:
    """Every lever of one protocol run, with its cost and the verdict against that run's default."""
    rows = []
    for name, c in run["candidates"].items():
        e, extra = c["estimates"], c.get("extra_ms_per_photo")
        rows.append((name, _interval(e["top1"]), _interval(e["ivory5"]), _interval(e["ivory_recall"]),
                     _interval(e["released"], True), _interval(e["heldout"]), _interval(e["ood_at_budget"], True),
                     c["forward_passes"], "n/a" if extra is None else f"+{extra:.1f}", c["verdict"]))
    return _table(("lever", "CV top-1", "ivory + 4 look-alikes", "elephant-ivory recall", "protected released",
                   "held-out sources", "out-of-cat. UNKNOWN at <= 5 %", "passes", "extra ms/photo", "verdict"), rows)


def accuracy_block(levers: dict, selection: dict | None, partial: dict | None) -> str:
    """The issue-16 targets for the default recipe beside the best lever, then every lever tried."""
    default = levers["candidates"][levers["default"]]["estimates"]
    every = [(n, c["estimates"]) for run in (levers, selection) if run for n, c in run["candidates"].items()]
    rows = []
    for name, goal, key, percent, lower in TARGETS:
        lever, best = max(((n, e[key]) for n, e in every), key=lambda t: t[1]["value"] * (-1 if lower else 1))
        rows.append((name, goal, _interval(default[key], percent), f"{_interval(best, percent)} ({lever})"))
    if partial:
        rows.append(("background fine-tune from warm caches (5-fold CV + final training)", "<= 10 min",
                     f"{partial['minutes_from_warm_caches']:.1f} min wall; {partial['cpu_minutes']:.1f} CPU-minutes, "
                     f"load {partial['load_average']}", ""))
    text = (f"Issue 16 targets for the default recipe ({_about(levers)}), beside the best any lever reached:\n\n"
            + _table(("target", "goal", "default recipe, CV", "best lever measured"), rows))
    if selection:
        text += (f"\nEvery lever against v1's recipe ({_about(selection)}): the run that chose the default (errors "
                 "on elephant ivory cost twice; the other winners need more than one network per photo):\n\n"
                 + lever_table(selection))
    text += f"\nThe strongest levers against the adopted default ({_about(levers)}):\n\n" + lever_table(levers)
    if partial:
        text += (f"\nPartial fine-tune (`python bench/partial_finetune.py`, {partial['date']}): "
                 f"{'ADOPT' if partial['adopted'] else 'keep the head model'} ({partial['verdict']}); "
                 f"epochs kept per fold {partial['epochs_per_fold']}.\n")
    return text


def _table(columns, rows) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]) + "\n"


def blocks() -> dict[str, str]:
    meta = published()
    out = {"model": model_block(meta), "release": release_block(meta, bench("release_policy")),
           "performance": performance_block()}
    levers = bench("accuracy_cv")
    if levers:
        out["accuracy"] = accuracy_block(levers, bench("accuracy_cv_selection"), bench("partial_finetune"))
    return out


def rewrite(text: str, generated: dict[str, str]) -> str:
    found = {m.group("name") for m in BLOCK.finditer(text)}
    missing = sorted(set(generated) - found)
    if missing:
        raise SystemExit(f"README.md has no block for {missing}: add <!-- numbers:NAME --> ... <!-- /numbers:NAME -->")
    return BLOCK.sub(lambda m: m.group(1) + generated[m.group("name")] + m.group(4), text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when README.md is out of date")
    args = p.parse_args(argv)
    old = README.read_text(encoding="utf-8")
    new = rewrite(old, blocks())
    if args.check:
        if new != old:
            print("README.md's numbers differ from model_cards/*.json and bench/results/*.json; "
                  "run python scripts/write_numbers.py", file=sys.stderr)
            return 1
        return 0
    if new != old:
        from species_data.atomic import write_text_atomic

        write_text_atomic(README, new)
        print("README.md updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
