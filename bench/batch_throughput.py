"""Batch identification throughput over the shared photo folder.

`Predictor.identify_many` over every photo in ../shared/photos: one lane per core, each
decoding its own batch and running it through a shared single-thread ONNX Runtime
session. Against it, on a subset, interleaved: `identify_many(workers=1)`, the
pre-optimisation loop (decode a batch, then forward it on the all-core session, no
overlap). Also the ceilings: decode + preprocess alone on every core, and the forward
alone at the batch size (all-core session, and two single-thread lanes).

Target (issue): >= 120 photos/s over ../shared/photos.

Run: python bench/batch_throughput.py [--quick] [--batch-size 32]
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

try:
    from . import common as c
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]

TITLE = "Batch identification throughput"


def _extra(p):
    p.add_argument("--batch-size", type=int, default=32)


def run(args) -> c.Report:
    import numpy as np

    from serve.identify.predictor import Failure, Predictor

    bs = args.batch_size
    predictor = Predictor.load(args.bundle, threads=args.threads)
    paths = c.photo_paths(args.photos, 48 if args.quick else None)
    items = [(p.name, p) for p in paths]
    subset = items[:: max(1, len(items) // (48 if args.quick else 512))]
    predictor.identify_many(items[:bs], batch_size=bs)  # warm-up: session, page cache

    t0 = time.perf_counter()
    results = predictor.identify_many(items, batch_size=bs)
    t_all = time.perf_counter() - t0
    failures = sum(isinstance(r, Failure) for r in results)

    # same subset, interleaved: lanes vs one batch after the other
    t_lanes, t_serial = [], []
    for _ in range(1 if args.quick else 3):
        t_lanes += c.timings(lambda: predictor.identify_many(subset, batch_size=bs), 1, warmup=0)
        t_serial += c.timings(lambda: predictor.identify_many(subset, batch_size=bs, workers=1), 1, warmup=0)

    # ceilings
    workers = args.threads
    with ThreadPoolExecutor(workers) as pool:
        t_decode = c.timings(lambda: list(pool.map(lambda it: predictor.prepare(it[1], it[0]), subset)), 1)
    size = predictor.bundle.meta.preprocessing.input_size
    batch = np.random.default_rng(0).standard_normal((bs, 3, size, size)).astype(np.float32)
    lane = predictor._lane_runner()
    reps = 2 if args.quick else 4
    t_fwd, t_fwd_lanes = [], []
    with ThreadPoolExecutor(args.threads) as pool:
        for _ in range(reps):
            t_fwd += c.timings(lambda: predictor.forward(batch), 1, warmup=0)
            t_fwd_lanes += c.timings(lambda: list(pool.map(lambda _: lane.run(batch), range(args.threads))), 1,
                                     warmup=0)

    n_sub = len(subset)
    rows = [
        (f"identify_many, all {len(items)} photos (batch {bs})", f"{len(items) / t_all:.0f}", f"{t_all:.1f}"),
        (f"identify_many, {n_sub}-photo subset ({args.threads} lanes)", f"{n_sub / c.median(t_lanes):.0f}",
         f"{c.median(t_lanes):.2f}"),
        ("identify_many(workers=1), same subset (old loop: decode, then forward)",
         f"{n_sub / c.median(t_serial):.0f}", f"{c.median(t_serial):.2f}"),
        (f"ceiling: decode + preprocess only ({workers} threads)", f"{n_sub / c.median(t_decode):.0f}",
         f"{c.median(t_decode):.2f}"),
        (f"ceiling: forward only, batch {bs}, one {args.threads}-thread session", f"{bs / c.median(t_fwd):.0f}",
         f"{c.median(t_fwd):.3f}"),
        (f"ceiling: forward only, batch {bs}, {args.threads} single-thread lanes",
         f"{args.threads * bs / c.median(t_fwd_lanes):.0f}", f"{c.median(t_fwd_lanes):.3f}"),
    ]
    table = c.table(("what", "photos/s", "seconds"), rows)
    notes = [f"{failures} photos failed to decode" if failures else "every photo decoded",
             f"speed-up of the lanes over the old loop on the subset: {c.median(t_serial) / c.median(t_lanes):.2f}x"]
    targets = [c.target("batch identification over ../shared/photos", len(items) / t_all, "photos/s", 120,
                        smaller_is_better=False)]
    return c.Report(TITLE, table, targets, notes)


def main(argv=None) -> c.Report:
    return c.main_for(TITLE, run, __doc__, argv, _extra)


if __name__ == "__main__":
    main()
