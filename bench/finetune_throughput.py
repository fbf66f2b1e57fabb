"""Fine-tuning throughput (training images per second) on this machine's CPU, and on a GPU
when one is present (the device tool may lend one: run this script there).

`train.finetune.train` itself — the full recipe: phone-photo augmentation in DataLoader
workers, channels-last, AdamW with layer-wise rates, label smoothing, gradient clipping;
mixed precision (bf16, else fp16) on a GPU — for `--steps` optimisation steps at batch
`--batch-size` on a few classes of ../shared/photos, without the linear probe (which only
embeds) and without writing a bundle. The images/s are those `train` records: the
training steps with their data loading, not the validation pass after them.

Run: python bench/finetune_throughput.py [--quick] [--steps 12] [--batch-size 32]
"""
from __future__ import annotations

import tempfile
from pathlib import Path

try:
    from . import common as c
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]

TITLE = "Fine-tuning throughput"
CLASSES = ("seahorse", "rhinoceros", "small_wild_cat", "elephant")


def _extra(p):
    p.add_argument("--steps", type=int, default=12, help="optimisation steps per device (first one included)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=1, help="DataLoader worker processes (decode + augment)")


def run(args) -> c.Report:
    import torch

    from train import distributed as dist
    from train.finetune import load_data, train
    from train.config import TrainingConfig

    steps, batch, size = (2, 4, 96) if args.quick else (args.steps, args.batch_size, None)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows, speed = [], {}
    for device in devices:
        with tempfile.TemporaryDirectory(prefix="bench-ft-") as tmp:
            cfg = TrainingConfig(data=[args.photos], out=Path(tmp) / "models" / "bench", data_dir=Path(tmp) / "data",
                            classes=list(CLASSES), card_dir=None, progress=False, workers=args.workers,
                            batch_size=batch, input_size=size, max_steps=steps, lp_ft=False, device=device)
            ctx = dist.Context(0, 1, 0, torch.device(device))
            trained = train(cfg, load_data(cfg), ctx)
        name = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
        speed[device] = trained.images_per_s
        rows.append((device, name, trained.amp or "float32", batch, size or 224, trained.progress.step,
                     f"{trained.images_per_s:.1f}"))
    table = c.table(("device", "name", "precision", "batch", "input px", "steps", "images/s"), rows)
    notes = [f"classes {', '.join(CLASSES)}; augment strong; channels-last; DataLoader workers {args.workers}",
             "an epoch over all of ../shared/photos is ~2000 training images: at the CPU rate above, "
             f"{2000 / max(speed['cpu'], 1e-9) / 60:.1f} min"]
    if "cuda" not in speed:
        notes.append("no GPU here: run this script on the device tool's machine for the GPU row")
    return c.Report(TITLE, table, [], notes)  # the issue asks for the number, not a goal


def main(argv=None) -> c.Report:
    return c.main_for(TITLE, run, __doc__, argv, _extra)


if __name__ == "__main__":
    main()
