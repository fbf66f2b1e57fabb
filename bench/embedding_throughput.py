"""Embedding throughput (the first-run cost of a head-mode fit) by engine.

`train.embeddings.embed_photos` without a cache on a spread of photos from
../shared/photos: eager torch (channels-last) vs ONNX Runtime (backbone exported per
call, export time included), both with the decode thread pool. Features of the two
engines are compared (max relative difference must stay <= 1e-4).

Run: python bench/embedding_throughput.py [--quick]
"""
from __future__ import annotations

import time

try:
    from . import common as c
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]

TITLE = "Embedding throughput (no cache)"


def run(args) -> c.Report:
    import numpy as np
    import torch

    from species_data.dataset import scan
    from train.backbone import spec
    from train.embeddings import embed_photos
    from train.model import SpeciesClassifier

    torch.set_num_threads(args.threads)
    arch = "tf_efficientnet_lite0"
    try:
        from train.bundle import Bundle

        arch = Bundle.load(args.bundle).meta.arch
    except Exception:  # noqa: BLE001 - no bundle: the default backbone
        pass
    cfg = spec(arch).preprocessing
    backbone = SpeciesClassifier.from_installed_weights(arch, 2).backbone
    everything = scan([args.photos], None).photos
    n = 40 if args.quick else 384
    photos = list(everything[:: max(1, len(everything) // n)][:n])
    embed_photos(photos[:4], backbone, cfg, None, progress=False, engine="torch")  # warm-up

    rows, feats = [], {}
    for engine in ("torch", "onnx"):
        t0 = time.perf_counter()
        f, kept, skipped = embed_photos(photos, backbone, cfg, None, 32, 1, progress=False, engine=engine)
        dt = time.perf_counter() - t0
        feats[engine] = f
        total = len(everything)
        rows.append((engine, len(photos), f"{len(photos) / dt:.0f}", f"{dt:.1f}", f"{total / (len(photos) / dt):.0f}"))
    diff = float(np.abs(feats["onnx"] - feats["torch"]).max() / (np.abs(feats["torch"]).max() + 1e-12))
    table = c.table(("engine", "photos", "photos/s", "seconds", f"projected s for all {len(everything)}"), rows)
    notes = [f"{arch}, batch 32, {args.threads} compute threads, decode threads >= 2",
             f"max relative difference ONNX vs torch features: {diff:.1e} (limit 1e-4)",
             "ONNX seconds include exporting and checking the backbone (a fixed ~2-4 s per call); "
             "`embed_photos(engine='auto')` uses ONNX from 256 photos to embed"]
    speed = {r[0]: float(r[2]) for r in rows}
    targets = [c.target("ONNX embedding features matches torch (max rel diff)", diff, "", 1e-4),
               c.target("embedding photos/s (ONNX engine)", speed["onnx"], "photos/s", speed["torch"],
                        smaller_is_better=False)]
    return c.Report(TITLE, table, targets, notes)


def main(argv=None) -> c.Report:
    return c.main_for(TITLE, run, __doc__, argv)


if __name__ == "__main__":
    main()
