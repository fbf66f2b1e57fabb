"""The one preprocessing path: training evaluation, embedding and serving all use it.

The numbers (input size, crop, mean, std) live in the model bundle as a
`Preprocessing` record, like timm's `pretrained_cfg`; no caller repeats them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
from PIL import Image

from species_data.images import DecodedImage, ImageSource, decode_image

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


@dataclass(frozen=True)
class Preprocessing:
    input_size: int = 224
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def __post_init__(self) -> None:
        if self.interpolation not in _RESAMPLE:
            raise ValueError(f"interpolation must be one of {sorted(_RESAMPLE)}, got {self.interpolation!r}")
        if not 0.2 <= self.crop_pct <= 1.0:
            raise ValueError(f"crop_pct must be in [0.2, 1], got {self.crop_pct}")

    @property
    def resize_size(self) -> int:
        """Short side before the centre crop (timm's convention: input_size / crop_pct)."""
        return int(round(self.input_size / self.crop_pct))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Preprocessing":
        return cls(
            input_size=int(data["input_size"]),
            crop_pct=float(data["crop_pct"]),
            interpolation=str(data["interpolation"]),
            mean=tuple(float(x) for x in data["mean"]),  # type: ignore[arg-type]
            std=tuple(float(x) for x in data["std"]),  # type: ignore[arg-type]
        )


def centre_crop_resize(image: Image.Image, cfg: Preprocessing) -> Image.Image:
    """Resize the short side to `resize_size` and take the centre `input_size` square,
    in one resampling step (the crop box is mapped back to source pixels)."""
    width, height = image.size
    scale = cfg.resize_size / min(width, height)
    side = min(cfg.input_size / scale, width, height)  # crop side in source pixels (rounding: never past an edge)
    left = max(0.0, (width - side) / 2)
    top = max(0.0, (height - side) / 2)
    box = (left, top, left + side, top + side)
    return image.resize(
        (cfg.input_size, cfg.input_size), _RESAMPLE[cfg.interpolation], box=box, reducing_gap=3.0
    )


def normalise(pixels: np.ndarray, cfg: Preprocessing) -> np.ndarray:
    """HWC uint8 -> CHW float32, normalised with the bundle's mean and std.

    Written channel by channel straight into the CHW result (no HWC float copy and no
    transpose copy): the same arithmetic in the same order, ~8x faster."""
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {pixels.shape}")
    height, width, _ = pixels.shape
    out = np.empty((3, height, width), dtype=np.float32)
    mean = np.asarray(cfg.mean, dtype=np.float32)
    inv_std = 1.0 / np.asarray(cfg.std, dtype=np.float32)
    for c in range(3):
        channel = out[c]
        np.multiply(pixels[:, :, c], np.float32(1.0 / 255.0), out=channel, casting="unsafe")
        channel -= mean[c]
        channel *= inv_std[c]
    return out


def to_input(image: Image.Image, cfg: Preprocessing) -> np.ndarray:
    """RGB image -> model input (3, S, S) float32."""
    return normalise(np.asarray(centre_crop_resize(image, cfg)), cfg)


def load_input(source: ImageSource, cfg: Preprocessing, name: str | None = None) -> tuple[np.ndarray, DecodedImage]:
    """Decode (at reduced JPEG scale when possible) and preprocess one photo."""
    decoded = decode_image(source, name=name, min_side=cfg.resize_size)
    return to_input(decoded.image, cfg), decoded
