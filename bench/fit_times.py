"""Head-mode fit times: first run (empty embedding cache), re-run (cache warm), the head
fit inside it, and a quick update with new photos.

1. `python -m train fit` over ../shared/photos (+ ../shared/photos_ood) into a tmp data
   folder with an empty embedding cache: wall seconds of the whole command.
2. The same command again: now every embedding is cached.
3. `train.head.fit_head` alone on the cached features, by thread count and with the L2
   grid walked fully or stopped early, with top-1 on validation and test.
4. `train.quick_update.quick_update` with new photos (re-encoded, mirrored copies of
   dataset photos, so their hashes are new and they must be embedded), if that module is
   present; in-process, so Python start-up is not counted.

Targets (issue): first run <= 2 min, re-run <= 10 s, quick update (50 photos) <= 20 s,
on 2 cores. --quick: three classes, no out-of-catalogue photos, 5 new photos.

Run: python bench/fit_times.py [--quick] [--keep]
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from . import common as c
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]

TITLE = "Fit times (head mode)"
QUICK_CLASSES = ("seahorse", "rhinoceros", "small_wild_cat")


def _extra(p):
    p.add_argument("--keep", action="store_true", help="keep the tmp data folder (prints its path)")
    p.add_argument("--ood", type=Path, default=c.PHOTOS.parent / "photos_ood")
    p.add_argument("--new-photos", type=int, default=50, help="photos added by the quick update")


def _fit_command(args, tmp: Path) -> list[str]:
    cmd = [sys.executable, "-m", "train", "fit", "--data", str(args.photos), "--out", str(tmp / "models" / "v1"),
           "--data-dir", str(tmp / "data"), "--card-dir", str(tmp / "cards"), "--no-progress"]
    if args.quick:
        cmd += ["--classes", *QUICK_CLASSES]
    elif args.ood and Path(args.ood).is_dir():
        cmd += ["--ood-data", str(args.ood)]
    return cmd


def _timed_fit(cmd: list[str]) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": str(c.ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=c.ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    bundle = Path(cmd[cmd.index("--out") + 1])
    return wall, json.loads((bundle / "bundle.json").read_text())


def head_profile(bundle_dir: Path, data_dir: Path, quick: bool) -> list[tuple]:
    """fit_head on the cached features: threads x early stop -> seconds, top-1 val/test."""
    import numpy as np

    from species_data.dataset import Split
    from train import head
    from train.bundle import Bundle
    from train.embeddings import EmbeddingCache

    bundle = Bundle.load(bundle_dir)
    rows_m = bundle.manifest()
    cache = EmbeddingCache.for_backbone(data_dir, bundle.meta.arch, bundle.meta.preprocessing)
    labels = list(bundle.meta.labels)
    vecs, y, split = [], [], []
    for r in rows_m:
        v = cache.get(r["sha256"])
        if v is not None:
            vecs.append(v)
            y.append(labels.index(r["label"]))
            split.append(r["split"])
    feats, y, split = np.stack(vecs), np.array(y), np.array(split)
    tr, va, te = (split == s.value for s in Split)
    out = []
    old = head.FIT_THREADS
    try:
        for threads, early in ((1, True), (2, True), (1, False)):
            head.FIT_THREADS = threads
            times = []
            for _ in range(1 if quick else 3):
                t0 = time.perf_counter()
                fit = head.fit_head(feats[tr], y[tr], feats[va], y[va], len(labels), early_stop=early)
                times.append(time.perf_counter() - t0)
            acc = [float(np.mean((feats[m] @ fit.weight.T + fit.bias).argmax(1) == y[m])) for m in (va, te)]
            out.append((threads, "stop when val NLL rises" if early else "all 4 values", c.median(times),
                        fit.l2, acc[0], acc[1]))
    finally:
        head.FIT_THREADS = old
    return out


def _new_photos(args, tmp: Path, n: int):
    """`n` photos with new hashes: dataset photos mirrored and re-encoded into tmp."""
    from PIL import Image, ImageOps

    from species_data.dataset import scan

    folder = tmp / "new"
    paths = c.photo_paths(args.photos)
    if args.quick:
        paths = [p for p in paths if p.parent.name in QUICK_CLASSES]
    chosen = paths[:: max(1, len(paths) // n)][:n]
    for p in chosen:
        (folder / p.parent.name).mkdir(parents=True, exist_ok=True)
        with Image.open(p) as im:
            ImageOps.mirror(im.convert("RGB")).save(folder / p.parent.name / f"new_{p.stem}.jpg", quality=88)
    return list(scan([folder], None).photos)


def quick_update_time(args, tmp: Path) -> tuple[float | None, str]:
    try:
        from train.quick_update import QuickUpdateConfig, quick_update
    except ImportError as err:
        return None, f"train.quick_update not importable ({err})"
    photos = _new_photos(args, tmp, 5 if args.quick else args.new_photos)
    try:
        t0 = time.perf_counter()
        result = quick_update(QuickUpdateConfig(base=tmp / "models" / "v1", out=tmp / "models" / "v2", add=photos,
                                                data_dir=tmp / "data"))
        dt = time.perf_counter() - t0
    except Exception as err:  # noqa: BLE001 - another engineer's module in progress: report, don't crash
        return None, f"quick_update failed: {type(err).__name__}: {err}"
    thread = getattr(result, "plots", None)
    if thread is not None and hasattr(thread, "join"):
        thread.join()
    return dt, f"{len(photos)} new photos, {result.embedded_new} embedded; stages {result.seconds}"


def run(args) -> c.Report:
    tmp = Path(tempfile.mkdtemp(prefix="bench-fit-"))
    try:
        cmd = _fit_command(args, tmp)
        first, meta1 = _timed_fit(cmd)
        second, meta2 = _timed_fit(cmd)
        profile = head_profile(tmp / "models" / "v1", tmp / "data", args.quick)
        qu, qu_note = quick_update_time(args, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    n = sum(sum(v.values()) for v in meta1["counts"].values())
    rows = [
        (f"fit, first run (empty cache, {n} photos)", f"{first:.1f}", meta1["training"]["details"]["seconds_embed"],
         meta1["training"]["seconds_total"], f"{meta1['metrics']['test']['top1']:.4f}"),
        ("fit, re-run (cache warm)", f"{second:.1f}", meta2["training"]["details"]["seconds_embed"],
         meta2["training"]["seconds_total"], f"{meta2['metrics']['test']['top1']:.4f}"),
    ]
    table = c.table(("command", "wall s", "fit(): embed s", "fit(): total s", "test top-1"), rows)
    table += "\n\n" + c.table(
        ("fit_head threads", "L2 grid", "seconds", "chosen L2", "val top-1", "test top-1"),
        [(t, g, f"{s:.2f}", f"{l2:g}", f"{a:.4f}", f"{b:.4f}") for t, g, s, l2, a, b in profile])
    table += "\n\n" + c.table(("quick update", "seconds", "detail"),
                              [("quick_update()", "n/a" if qu is None else f"{qu:.1f}", qu_note)])
    notes = ["wall s = the whole `python -m train fit` command (Python start-up, imports, plots, ONNX export, card)",
             "fit(): seconds as fit() records them in bundle.json (before plots, export and card)"]
    if args.quick:
        notes.append(f"--quick: classes {', '.join(QUICK_CLASSES)} only, no out-of-catalogue photos")
    targets = [c.target("fit first run (empty cache)", first, "s", 120),
               c.target("fit re-run (cached)", second, "s", 10)]
    qt = c.target("quick update with new photos", qu or 0.0, "s", 20)
    targets.append(qt if qu is not None else c.Target(qt.name, 0.0, "s", qt.goal, None))
    return c.Report(TITLE, table, targets, notes)


def main(argv=None) -> c.Report:
    return c.main_for(TITLE, run, __doc__, argv, _extra)


if __name__ == "__main__":
    main()
