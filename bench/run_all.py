"""Every CPU benchmark of the issue "Performance: near the hardware limit on a CPU",
one after the other, ending with one table of all targets.

    python bench/run_all.py            # full forms (~10 min on 2 cores)
    python bench/run_all.py --quick    # short forms: checks they run, numbers mean little
    python bench/run_all.py --only identify_latency forward_floor

Paste the output into bench/RESULTS.md with the date and the machine's load.
"""
from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common as c  # noqa: E402

SCRIPTS = ("identify_latency", "forward_floor", "batch_throughput", "embedding_throughput", "serving_memory",
           "fit_times", "update_estimate")


def main(argv=None) -> list[c.Target]:
    p = c.parser(__doc__)
    p.add_argument("--only", nargs="*", choices=SCRIPTS, default=None)
    p.add_argument("--json-dir", type=Path, default=None,
                   help="also write each report as <dir>/<script>.json (scripts/write_numbers.py reads bench/results/)")
    args, _ = p.parse_known_args(argv)
    c.emit(c.header("CPU benchmarks (bench/run_all.py)", args.bundle,
                    [f"mode: {'quick (tiny repeats)' if args.quick else 'full'}", f"threads: {args.threads}"]))
    targets: list[c.Target] = []
    t0 = time.perf_counter()
    for name in args.only or SCRIPTS:
        module = importlib.import_module(f"bench.{name}")
        sub = c.parser(module.__doc__)
        if hasattr(module, "_extra"):
            module._extra(sub)
        sub_args = sub.parse_args(([] if not args.quick else ["--quick"])
                                  + ["--bundle", str(args.bundle), "--photos", str(args.photos),
                                     "--threads", str(args.threads)]
                                  + (["--json", str(args.json_dir / f"{name}.json")] if args.json_dir else []))
        c.emit("")
        started = time.perf_counter()
        try:
            report = module.run(sub_args)
        except Exception as err:  # noqa: BLE001 - one broken benchmark must not hide the others
            c.emit(f"### {name}: FAILED\n\n```\n{traceback.format_exc()[-2000:]}```")
            targets.append(c.Target(f"{name} (failed: {type(err).__name__})", 0.0, "", "", None))
            continue
        c.emit(report.text())
        if args.json_dir:
            c.write_json(report, sub_args)
        c.emit(f"\n({name}: {time.perf_counter() - started:.0f} s, load average now {c.load_average()})")
        targets += report.targets
    c.emit(f"\n## All targets ({time.perf_counter() - t0:.0f} s, load average at the end {c.load_average()})\n")
    c.emit(c.targets_table(targets))
    c.emit("\nTimings on a shared machine are noisy; the lead re-runs `python bench/run_all.py` on a quiet one.")
    return targets


if __name__ == "__main__":
    main()
