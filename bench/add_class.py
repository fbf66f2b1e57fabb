"""Adding a class the model has never seen, through the quick update, timed end to end.

Setup (not timed): a base bundle fitted on every class of ../shared/photos but one
(default `seahorse`), with an embedding cache that holds the base's photos only, as
on a machine where the new class has never been embedded.

Timed, per row (the app's "Upload" then "Quick update"): the quality gate on the new
photos' bytes (decode, size, exact and near duplicates against the base's photos and
earlier uploads), then `train.quick_update`: embedding only the new photos with the
base's own backbone, the warm-started head fit, calibration, evaluation on the same
frozen split, and writing the complete candidate bundle (ONNX included). The PNG plots
are drawn afterwards in the background and are not counted. Imports are warm (as in
the running app); the cold import time is shown in the header.

Uploaded photos = N photos of the new class from its train split + all its held-out
(val + test) photos, which the candidate is measured on and never trained on.

    python bench/add_class.py [--new-class hawksbill_turtle] [--quick]
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import PHOTOS, ROOT, emit, header, parser, table  # noqa: E402

TARGET_S = 20.0


def verdict(seconds: float, target: float) -> str:
    return "meets" if seconds <= target else "MISSES"


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--new-class", default="seahorse")
    p.add_argument("--sizes", type=int, nargs="*", default=[10, 20, 0], help="train photos per row (0: all of them)")
    p.add_argument("--headline", type=int, default=20, help="the row the last line reports")
    p.add_argument("--ood", type=Path, default=PHOTOS.parent / "photos_ood")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    import numpy as np  # noqa: F401
    import torch  # noqa: F401

    from species_data.dataset import Split, scan
    from species_data.quality import PhashCache, QualityGate, known_from_manifest
    from train.embeddings import EmbeddingCache
    from train.config import TrainingConfig
    from train.fit import fit, ood_photos
    from train.quick_update import QuickUpdateConfig, quick_update
    cold_import = time.perf_counter() - t0

    photo_set = scan([args.photos])
    new = args.new_class
    if new not in photo_set.labels:
        raise SystemExit(f"no class {new!r} under {args.photos}; choose one of {', '.join(photo_set.labels)}")
    base_classes = [c for c in photo_set.labels if c != new]
    mine = [ph for ph in photo_set.photos if ph.label == new]
    train_photos = [ph for ph in mine if ph.split is Split.TRAIN]
    heldout = [ph for ph in mine if ph.split is not Split.TRAIN]
    sizes = [len(train_photos) if n in (0, None) or n > len(train_photos) else n for n in args.sizes]
    if args.quick:
        sizes = sizes[:1]

    work = Path(tempfile.mkdtemp(prefix="bench-add-class-"))
    try:
        data = work / "data"
        real = EmbeddingCache.for_backbone(ROOT / "data", "tf_efficientnet_lite0")
        cache = EmbeddingCache.for_backbone(data, "tf_efficientnet_lite0")
        tune, report = ood_photos(args.ood if args.ood.is_dir() else None)
        seeded = 0
        for ph in [ph for ph in photo_set.photos if ph.label != new] + tune + report:
            src = real.path(ph.sha256)
            if src.exists():
                cache.path(ph.sha256).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, cache.path(ph.sha256))
                seeded += 1
        t = time.perf_counter()
        base = fit(TrainingConfig(data=[args.photos], out=work / "models" / "base", data_dir=data, classes=base_classes,
                             ood_data=args.ood if args.ood.is_dir() else None, card_dir=None, progress=False))
        t_base = time.perf_counter() - t
        n_base = len(base.manifest())
        phashes = PhashCache(ROOT / "data" / "phash.json")  # the app keeps this cache too
        known = known_from_manifest(base.manifest(), phashes)
        # warm-up (untimed): imports, the feature pack of the base, the model code paths
        quick_update(QuickUpdateConfig(base=base.path, out=work / "models" / "warm", data_dir=data,
                                       plots="none")).wait()
        pack = cache.root / "_pack.npz"
        saved_pack = work / "pack-base.npz"
        shutil.copyfile(pack, saved_pack)

        rows, results = [], {}
        for n in sizes:
            for ph in mine:  # the new class is never embedded before a row starts
                cache.path(ph.sha256).unlink(missing_ok=True)
            shutil.copyfile(saved_pack, pack)
            upload = train_photos[:n] + heldout
            t = time.perf_counter()
            gate = QualityGate(known)
            verdicts = [gate.admit(ph.path.name, ph.path.read_bytes(), new) for ph in upload]
            accepted = [ph for ph, v in zip(upload, verdicts) if v.accepted]
            t_gate = time.perf_counter() - t
            result = quick_update(QuickUpdateConfig(base=base.path, out=work / "models" / f"n{n}", add=accepted,
                                                    data_dir=data))
            total = time.perf_counter() - t
            result.wait()
            report_new = result.bundle.meta.metrics.new_classes[new]
            test_old = _old_top1(result.bundle.meta.metrics.test, base_classes)
            sec = result.seconds
            results[n] = (len(upload), total, report_new.heldout_recall)
            rows.append([n, len(heldout), len(upload), len(accepted), result.embedded_new, f"{t_gate:.1f}",
                         f"{sec['photos']:.1f}", f"{sec['embed']:.1f}", f"{sec['fit']:.1f}", f"{sec['calibrate']:.1f}",
                         f"{sec['write']:.1f}", f"{total:.1f}", verdict(total, TARGET_S),
                         f"{report_new.heldout_recall:.2f} ({report_new.heldout_n})",
                         f"{_old_top1(base.meta.metrics.test, base_classes):.3f} -> {test_old:.3f}"])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    emit(header(f"Quick update: adding `{new}` to a {len(base_classes)}-class model", extra=[
        f"cold import of torch/timm/train: {cold_import:.1f} s (paid once when the app starts; not in S)",
        f"setup, not timed: base fit {t_base:.1f} s on {n_base} photos; {seeded} cached "
        f"embeddings seeded; {len(mine)} `{new}` photos: {len(train_photos)} train, {len(heldout)} held out",
        "S = quality gate + quick update (embed new photos, head fit, calibration, evaluation, bundle write)"]))
    emit("")
    emit(table(["train photos", "held out", "uploaded", "accepted", "embedded", "gate s", "load s", "embed s",
                "fit s", "calibrate+eval s", "write s", "S (s)", f"<= {TARGET_S:.0f} s",
                "new-class recall (n)", "old classes test top-1"], rows))
    emit("")
    key = args.headline if args.headline in results else sizes[0]
    n_up, s, recall = results[key]
    emit(f"quick update with {n_up} new photos: {s:.1f} s, new-class recall on its held-out photos: {recall:.2f}")
    return 0


def _old_top1(metrics: dict, old: list[str]) -> float:
    import numpy as np

    names = metrics.labels
    cm = np.asarray(metrics.confusion)
    idx = [names.index(c) for c in old if c in names]
    return float(cm[idx, idx].sum() / max(cm[idx].sum(), 1))


if __name__ == "__main__":
    sys.exit(main())
