"""Resident memory of a serving process: load the Predictor, identify photos.

A fresh Python process (so nothing from this one counts) imports `serve.identify.predictor`,
loads the bundle, identifies a 12-megapixel phone JPEG a few times, then a batch of
dataset photos with `identify_many`; it reports its resident set (VmRSS) after each
step and its peak (VmHWM) at the end.

Target (issue): serving process <= 1 GB resident (peak).

Run: python bench/serving_memory.py [--quick]
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from . import common as c
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]

TITLE = "Serving process memory"

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return float("nan")

steps = [("python started", rss())]
from serve.identify.predictor import Predictor
steps.append(("imported serve.identify.predictor", rss()))
p = Predictor.load({bundle!r}, threads={threads})
steps.append(("Predictor loaded", rss()))
for _ in range(3):
    p.identify({big!r})
steps.append(("identified a 12 MP photo x3", rss()))
p.identify_many([(name, path) for name, path in {items!r}])
steps.append(("identify_many, {n} photos", rss()))
hwm = float("nan")
for line in open("/proc/self/status"):
    if line.startswith("VmHWM"):
        hwm = int(line.split()[1]) / 1024
print(json.dumps({{"steps": steps, "hwm": hwm, "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "torch_imported": "torch" in sys.modules}}))
"""


def run(args) -> c.Report:
    tmp = Path(tempfile.mkdtemp(prefix="bench-mem-"))
    big = c.make_big_jpeg(tmp, photos=args.photos)
    paths = c.photo_paths(args.photos, 16 if args.quick else 256)
    items = [(p.name, str(p)) for p in paths]
    code = CHILD.format(root=str(c.ROOT), bundle=str(args.bundle), threads=args.threads, big=str(big),
                        items=items, n=len(items))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"serving child failed:\n{out.stderr[-2000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    rows = [(name, f"{mib:.0f}") for name, mib in data["steps"]]
    rows += [("peak (VmHWM)", f"{data['hwm']:.0f}")]
    table = c.table(("serving process, after", "resident MiB"), rows)
    notes = [f"torch imported by serving: {data['torch_imported']}", f"{args.threads} ORT threads, "
             "identify_many with its default batch size",
             f"ru_maxrss reads {data['maxrss']:.0f} MiB: Linux keeps it across fork+exec, so it includes this "
             "benchmark's own pages at fork time; VmHWM restarts at exec and is the child's own peak"]
    peak = data["hwm"]
    targets = [c.target("serving process peak resident memory", peak, "MiB", 1024)]
    return c.Report(TITLE, table, targets, notes)


def main(argv=None) -> c.Report:
    return c.main_for(TITLE, run, __doc__, argv)


if __name__ == "__main__":
    main()
