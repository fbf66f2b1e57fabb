"""The quick update's time estimate against the real time, from a fresh data folder to a warm one.

What the trainer reads before a quick update (`train.update_estimate`: photos never read on
this computer x seconds per photo + a fixed part) is compared with what the update then
takes: `train.quick_update` and `train.compare`, as the app's "Quick update" button runs
them. Rows, in order, each on its own data folder built from the repository's embedding
cache with some photos left out (never read there):

1. every photo unread (a fresh data folder), at the default speed - nothing measured yet;
2. a few hundred photos unread, at the speed row 1 measured and kept beside the cache;
3. nothing unread (every update after the first).

    python bench/update_estimate.py [--quick] [--bundle data/models/current]

`--quick`: 64 unread photos in rows 1 and 2 (the numbers then mean little).
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    from . import common as c
except ImportError:  # run as a script: python bench/update_estimate.py
    import common as c  # type: ignore[no-redef]

ROWS = ("all", 400, 0)  # photos left unread, per row
QUICK_ROWS = (64, 64, 0)
HONEST = 0.5  # an estimate within +-50 % of the real time is honest enough to plan by


def seed_cache(real, mine, photos, unread: int, speed_file: Path | None) -> int:
    """`mine` holds the vectors of all `photos` but `unread` of them (a pack of the rest, as
    the app keeps it) and the speed measured so far; -> how many were left out."""
    from train.update_estimate import SPEED_FILE

    shas = sorted({p.sha256 for p in photos})
    if unread == "all":
        left_out = set(shas)
    else:  # spread over the classes, as new photos would be
        left_out = set(shas[:: max(1, len(shas) // unread)][:unread]) if unread else set()
    vectors = {}
    try:
        with np.load(real.root / "_pack.npz") as z:
            vectors = dict(zip((str(s) for s in z["shas"]), z["features"]))
    except OSError:  # no pack: the per-photo files
        pass
    keep = {s: vectors[s] if s in vectors else real.get(s) for s in shas if s not in left_out}
    keep = {s: v for s, v in keep.items() if v is not None}
    mine.root.mkdir(parents=True, exist_ok=True)
    if keep:
        np.savez(mine.root / "_pack.npz", shas=np.array(list(keep)), features=np.stack(list(keep.values())))
    if speed_file is not None and speed_file.exists():
        shutil.copyfile(speed_file, mine.root / SPEED_FILE)
    return len(left_out)


def run(args) -> c.Report:
    from train.bundle import Bundle
    from train.compare import compare
    from train.features import cache_for
    from train.fit import ood_photos
    from train.quick_update import QuickUpdateConfig, _base_ood_folder, photos_from_manifest, quick_update
    from train.update_estimate import SPEED_FILE, estimate

    base = Bundle.load(Path(args.bundle).resolve())
    real = cache_for(base, c.ROOT / "data")
    tune, report = ood_photos(_base_ood_folder(base))
    photos = list(photos_from_manifest(base.manifest())) + tune + report
    rows, ratios, work = [], [], Path(tempfile.mkdtemp(prefix="bench-update-estimate-"))
    speed_file = work / SPEED_FILE
    try:
        for i, unread in enumerate(QUICK_ROWS if args.quick else ROWS):
            data = work / f"data{i}"
            (data / "models").mkdir(parents=True)
            mine = cache_for(base, data)
            left_out = seed_cache(real, mine, photos, unread, speed_file)
            plan = estimate(base, data)
            started = time.perf_counter()
            result = quick_update(QuickUpdateConfig(base=base.path, out=data / "models" / "v2", data_dir=data,
                                                    plots="none"))
            compare(result.bundle, base, data)
            took = time.perf_counter() - started
            if (mine.root / SPEED_FILE).exists():
                shutil.copyfile(mine.root / SPEED_FILE, speed_file)
            ratios.append(took / plan.seconds)
            rows.append((f"{left_out} of {plan.photos} unread", plan.to_read, result.embedded_new,
                         f"{plan.seconds_per_photo:.4f} ({'measured' if plan.measured else 'default'})",
                         f"{plan.seconds:.0f}", f"{took:.1f}", f"{took / plan.seconds:.2f}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = c.table(("data folder", "to read (estimate)", "catalogue photos read", "s/photo used", "estimate s",
                     "actual s", "actual/estimate"), rows)
    notes = ["actual = train.quick_update (plots off, as the app draws them afterwards) + train.compare",
             "to read = catalogue and out-of-catalogue photos; the update counts the catalogue ones it read",
             "estimate = photos to read x s/photo + the rest of the last update "
             "(train.update_estimate.FIXED_SECONDS until one ran)"]
    # Before any measurement the default speed may promise too much time, never too little;
    # after, the estimate is one to plan by.
    targets = [c.target("row 1 (nothing measured): actual/estimate", ratios[0], "", 1.0)]
    targets += [c.target(f"row {i + 1}: actual/estimate off from 1 by", abs(r - 1), "", HONEST)
                for i, r in enumerate(ratios) if i]
    return c.Report("Quick update: estimated against actual time", table, targets, notes)


def main(argv=None) -> c.Report:
    return c.main_for("Quick update: estimated against actual time", run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
