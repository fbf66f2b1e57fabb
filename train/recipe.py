"""The fine-tuning recipe's arithmetic, apart from the training loop (`train.finetune`):
AdamW parameter groups with layer-wise learning-rate decay (the stem learns least, the
head most), linear warm-up then cosine decay, and the mixed-precision choice per device.
"""
from __future__ import annotations

import math

import torch

MIN_LR_RATIO = 0.01  # cosine ends at this fraction of each group's learning rate


# ---- optimiser ----
def layer_depth(name: str, stages: int) -> int:
    """0 = stem, 1..stages = `blocks.<i>`, stages + 1 = the final 1x1 conv and its norm."""
    if name.startswith(("conv_stem", "bn1")):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return stages + 1


def param_groups(model, cfg) -> list[dict]:
    """AdamW groups of a `SpeciesClassifier` under a `TrainingConfig`: layer-wise decayed backbone
    rates, the head at `lr`; no weight decay on 1-D parameters."""
    stages = len(model.backbone.blocks)
    groups: dict[tuple, dict] = {}

    def add(key, p, lr):
        decay = cfg.weight_decay if p.ndim > 1 else 0.0
        groups.setdefault((*key, decay), {"params": [], "lr": lr, "weight_decay": decay,
                                          "name": f"{key[0]}{key[1]}"})["params"].append(p)

    for name, p in model.backbone.named_parameters():
        depth = layer_depth(name, stages)
        add(("backbone.", depth), p, cfg.lr * cfg.backbone_lr_scale * cfg.layer_decay ** (stages + 1 - depth))
    for p in model.head.parameters():
        add(("head", ""), p, cfg.lr)
    return list(groups.values())


# ---- schedule ----
def lr_factor(step: int, warmup: int, total: int, floor: float = MIN_LR_RATIO) -> float:
    """Linear warm-up over `warmup` steps, then cosine from 1 to `floor` at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """'auto': bf16 on a GPU that has it, else fp16 on GPU, full precision on CPU."""
    if amp not in ("auto", "off", "bf16", "fp16"):
        raise ValueError(f"--amp must be auto, off, bf16 or fp16, got {amp!r}")
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("--amp fp16 needs a GPU; use --amp bf16 or off on CPU")
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16
