"""Heat maps: which part of the photo made the model name a class, without torch.

    mapper = HeatMapper.for_predictor(predictor)
    heat = mapper.explain("photo.jpg")            # top class; or class_id="tiger"
    heat.overlay()                                 # PIL image for the screen

Class activation mapping (CAM, Zhou et al., 2016): the species head's weights for one
class applied to the last feature map, the one global average pooling reads (7x7 cells
for a 224 px input: the last place the network still knows *where* things are). The
model's ONNX graph outputs that map (`train.export.add_feature_map_output`; bundles
exported before it are mended when loaded), so one forward in ONNX Runtime gives it.

Why this equals Grad-CAM (Selvaraju et al., 2017) at that layer: the class score is
y_c = sum_k W_ck * mean_ij A_k(i, j) + b_c, so its gradient with respect to A_k(i, j) is
W_ck / (h w) at every cell, Grad-CAM's channel weights are W_ck / (h w), and its map
ReLU(sum_k W_ck A_k) / (h w) is the CAM map up to a constant factor, which the
normalisation to [0, 1] removes. tests/test_heatmap.py checks it against torch Grad-CAM.

The map covers the centre crop the model saw (the bundle's preprocessing), so the
overlay is drawn on that crop, not on the full photo.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from species_data.images import ImageSource, decode_image
from train.preprocess import centre_crop_resize, normalise
from train.weights import load_arrays


def _bilinear_matrix(out: int, size: int) -> np.ndarray:
    """(out, size) weights of bilinear resampling with half-pixel centres (align_corners=False,
    as torch's `interpolate` and Grad-CAM implementations upsample)."""
    src = np.clip((np.arange(out) + 0.5) * size / out - 0.5, 0, size - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, size - 1)
    frac = src - lo
    m = np.zeros((out, size))
    m[np.arange(out), lo] += 1 - frac
    m[np.arange(out), hi] += frac
    return m


def class_activation_map(feature_map: np.ndarray, class_weights: np.ndarray, size: int) -> np.ndarray:
    """CAM of one class: ReLU(sum_k w_k A_k) upsampled to (size, size), scaled to [0, 1].

    feature_map: (channels, h, w); class_weights: (channels,) the head's row for the class."""
    cam = np.maximum(np.tensordot(class_weights.astype(np.float64), feature_map.astype(np.float64), axes=1), 0)
    h, w = cam.shape
    cam = _bilinear_matrix(size, h) @ cam @ _bilinear_matrix(size, w).T
    peak = float(cam.max())
    return (cam / peak if peak > 0 else cam).astype(np.float32)


@dataclass(frozen=True)
class HeatMap:
    class_id: str
    cam: np.ndarray  # (S, S) in [0, 1], over `image`
    image: Image.Image  # the centre crop the model saw, S x S RGB

    def overlay(self, alpha: float = 0.45, size: int | None = None) -> Image.Image:
        """The crop with the map drawn over it in a blue (low) to red (high) scale."""
        from matplotlib import colormaps

        heat = colormaps["jet"](self.cam)[..., :3]
        base = np.asarray(self.image, dtype=np.float32) / 255.0
        mixed = (1.0 - alpha) * base + alpha * heat
        out = Image.fromarray(np.clip(mixed * 255.0, 0, 255).astype(np.uint8))
        return out.resize((size, size), Image.Resampling.BICUBIC) if size else out


class HeatMapper:
    """Class activation maps for a predictor's model (its ONNX session, its head weights)."""

    _cache: dict[str, "HeatMapper"] = {}
    _cache_lock = threading.Lock()

    def __init__(self, predictor) -> None:
        self.predictor = predictor
        self.bundle = predictor.bundle
        self.labels = list(self.bundle.meta.labels)
        self.weights = load_arrays(self.bundle.weights_path)["head.weight"].astype(np.float32)

    @classmethod
    def for_predictor(cls, predictor) -> "HeatMapper":
        """One mapper per bundle folder (the head is read once; old ones are dropped)."""
        key = str(Path(predictor.bundle.path).resolve())
        with cls._cache_lock:
            mapper = cls._cache.get(key)
            if mapper is None or mapper.predictor is not predictor:
                mapper = cls(predictor)
                cls._cache.clear()
                cls._cache[key] = mapper
            return mapper

    def prepare(self, source: ImageSource, name: str | None = None) -> tuple[np.ndarray, Image.Image]:
        cfg = self.bundle.meta.preprocessing
        crop = centre_crop_resize(decode_image(source, name=name, min_side=cfg.resize_size).image, cfg)
        return normalise(np.asarray(crop), cfg), crop

    def explain(self, source: ImageSource, class_id: str | None = None, name: str | None = None) -> HeatMap:
        """The heat map for `class_id` (default: the model's top class)."""
        if class_id is not None and class_id not in self.labels:
            raise ValueError(f"class {class_id!r} is not one the model knows; "
                             f"choose one of {', '.join(self.labels)}")
        array, crop = self.prepare(source, name)
        logits, fmap = self.predictor.logits_and_feature_map(array[None])
        index = int(np.argmax(logits[0])) if class_id is None else self.labels.index(class_id)
        cam = class_activation_map(fmap[0], self.weights[index], array.shape[-1])
        return HeatMap(self.labels[index], cam, crop)
