"""How a model was trained: the configuration a run starts from, kept in its bundle.

Why: like nanoGPT's `model_args`, the configuration is saved with real types and read
back as the same `TrainingConfig`, so `fit(bundle.meta.training.config)` repeats the
run. Bundles written before it was typed (format 1) stored every value as `str(value)`;
`TrainingConfig.from_legacy` reads those once, by each field's type.
"""
from __future__ import annotations

import ast
import dataclasses
import re
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Mapping

from .typed_json import from_json, to_json


class TrainingMode(str, Enum):
    HEAD = "head"  # frozen backbone, cached embeddings, linear head
    FINETUNE = "finetune"  # the whole network
    QUICK_UPDATE = "quick_update"  # a head re-fitted on a published bundle's photos plus new ones
    PARTIAL_FINETUNE = "partial_finetune"  # the top stage and the head, from cached activations


@dataclass
class TrainingConfig:
    data: list[Path]
    out: Path
    arch: str = "tf_efficientnet_lite0"
    mode: TrainingMode = TrainingMode.HEAD
    data_dir: Path = Path("data")  # caches live here
    ood_data: Path | None = None  # flat folder of out-of-catalogue photos (tuning + report)
    catalogue_dirs: list[Path] = field(default_factory=list)
    classes: list[str] | None = None
    # head mode: fit the published head on every photo; temperature, thresholds and the
    # out-of-catalogue rule on out-of-fold answers (`train.every_photo`). False: the 70 %
    # train split, calibrated on validation (the model before issue 16).
    all_photos: bool = True
    folds: int = 5  # cross-validation folds of an every-photo fit
    workers: int = 1
    batch_size: int = 32
    progress: bool = True
    card_dir: Path | None = None  # also write the model card here (the bundle always holds its own card.md)
    # fine-tuning only
    epochs: int = 8
    lr: float = 1e-3
    backbone_lr_scale: float = 0.1
    layer_decay: float = 0.75
    label_smoothing: float = 0.1
    patience: int = 3
    max_steps: int | None = None
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    lp_ft: bool = True  # start the head from a linear probe on cached embeddings
    augment: str = "strong"  # train.augment.STRENGTHS
    amp: str = "auto"  # auto | off | bf16 | fp16
    device: str = "auto"  # auto | cpu | cuda
    input_size: int | None = None  # None: the backbone's own (smaller = faster smoke runs)
    crop_pct: float | None = None  # None: the backbone's own
    seed: int = 0
    resume: bool = False  # continue from data/checkpoints/<out name>/last.pt

    def __post_init__(self) -> None:
        self.mode = TrainingMode(self.mode)

    def to_dict(self) -> dict[str, Any]:
        return to_json(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainingConfig":
        return from_json(cls, dict(d))

    @classmethod
    def from_legacy(cls, d: Mapping[str, str]) -> "TrainingConfig":
        """A format-1 bundle's configuration, where every value was written as `str(value)`."""
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{name: _legacy_value(hints[name], text) for name, text in d.items() if name in known})


def _legacy_value(tp: Any, text: str) -> Any:
    """One `str(value)` back to a value of type `tp` (format-1 bundles only)."""
    args = typing.get_args(tp)
    if type(None) in args:
        if text == "None":  # the only way a format-1 bundle said "no value"
            return None
        tp = next(a for a in args if a is not type(None))
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        return text == "True"
    if tp in (int, float, str) or (isinstance(tp, type) and issubclass(tp, Enum)):
        return tp(text)
    if tp is Path:
        return Path(text)
    if origin is list:
        # "[PosixPath('a'), PosixPath('b')]" or "['x', 'y']"
        items = ast.literal_eval(re.sub(r"\w*Path\(('[^']*'|\"[^\"]*\")\)", r"\1", text))
        return [from_json(args[0], x) for x in items]
    raise ValueError(f"cannot read {text!r} as {tp!r} from an old bundle's configuration")
