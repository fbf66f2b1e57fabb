"""Grad-CAM heat maps: which part of the photo made the model name a class.

    mapper = HeatMapper.for_bundle(predictor.bundle)
    heat = mapper.explain("photo.jpg")            # top class; or class_id="tiger"
    heat.overlay()                                 # PIL image for the screen

Grad-CAM (Selvaraju et al., 2017) weights the feature maps of one convolutional layer
by the gradient of the class score, averaged over space, and keeps the positive part.
The layer is the last convolutional block before global pooling (`backbone.bn2`, the
output of `conv_head` after its batch norm and activation: 7x7 cells for a 224 px
input): the last place the network still knows *where* things are. An earlier layer
gives a sharper but different map, mostly edges, not what the class score used.

The map covers the centre crop the model saw (the bundle's preprocessing), so the
overlay is drawn on that crop, not on the full photo. Uses the bundle's torch weights
(ONNX Runtime cannot give gradients); one map at a time per model (a lock).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from species_data.images import ImageSource, decode_image
from train.bundle import Bundle
from train.preprocess import centre_crop_resize, normalise

TARGET_LAYERS = ("bn2", "conv_head")  # preferred first


def target_layer(model):
    """The layer Grad-CAM reads: the backbone's last conv block output before pooling."""
    from torch import nn

    backbone = getattr(model, "backbone", model)
    for name in TARGET_LAYERS:
        layer = getattr(backbone, name, None)
        if isinstance(layer, nn.Module) and not isinstance(layer, nn.Identity):
            return layer
    raise ValueError(f"{type(backbone).__name__} has no {' or '.join(TARGET_LAYERS)} layer; "
                     "pass the last convolutional layer before pooling to GradCam explicitly")


class GradCam:
    """Grad-CAM for one layer of a classifier whose forward returns class logits."""

    def __init__(self, model, layer) -> None:
        self.model = model.eval()
        self.layer = layer

    def logits_and_cam(self, x, class_index: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """x: (1, 3, S, S) tensor -> (logits (classes,), cam (S, S) in [0, 1])."""
        import torch
        import torch.nn.functional as F

        captured = {}

        def keep(_module, _inputs, output):
            captured["act"] = output

        handle = self.layer.register_forward_hook(keep)
        try:
            with torch.enable_grad():
                logits = self.model(x)
                index = int(logits[0].argmax()) if class_index is None else int(class_index)
                if not 0 <= index < logits.shape[1]:
                    raise ValueError(f"class index {index} is outside 0..{logits.shape[1] - 1}")
                act = captured["act"]
                (grad,) = torch.autograd.grad(logits[0, index], act)
        finally:
            handle.remove()
        weights = grad.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((weights * act.detach()).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
        cam = cam[0, 0].numpy()
        peak = float(cam.max())
        return logits[0].detach().numpy(), (cam / peak if peak > 0 else cam)

    def __call__(self, x, class_index: int | None = None) -> np.ndarray:
        return self.logits_and_cam(x, class_index)[1]


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
    """Grad-CAM for a model bundle; thread-safe (one map at a time)."""

    _cache: dict[str, "HeatMapper"] = {}
    _cache_lock = threading.Lock()

    def __init__(self, bundle: Bundle, layer_name: str | None = None) -> None:
        self.bundle = bundle
        self.labels = list(bundle.meta.labels)
        self.model = bundle.build_model()
        layer = target_layer(self.model) if layer_name is None else \
            self.model.get_submodule(layer_name)
        self.gradcam = GradCam(self.model, layer)
        self._lock = threading.Lock()

    @classmethod
    def for_bundle(cls, bundle: Bundle) -> "HeatMapper":
        """One mapper per bundle folder (the model is loaded once; old ones are dropped)."""
        key = str(Path(bundle.path).resolve())
        with cls._cache_lock:
            mapper = cls._cache.get(key)
            if mapper is None:
                mapper = cls(bundle)
                cls._cache.clear()
                cls._cache[key] = mapper
            return mapper

    def prepare(self, source: ImageSource, name: str | None = None) -> tuple[np.ndarray, Image.Image]:
        cfg = self.bundle.meta.preprocessing
        crop = centre_crop_resize(decode_image(source, name=name, min_side=cfg.resize_size).image, cfg)
        return normalise(np.asarray(crop), cfg), crop

    def explain(self, source: ImageSource, class_id: str | None = None,
                name: str | None = None) -> HeatMap:
        """The heat map for `class_id` (default: the model's top class)."""
        import torch

        if class_id is not None and class_id not in self.labels:
            raise ValueError(f"class {class_id!r} is not one the model knows; "
                             f"choose one of {', '.join(self.labels)}")
        array, crop = self.prepare(source, name)
        index = None if class_id is None else self.labels.index(class_id)
        with self._lock:
            logits, cam = self.gradcam.logits_and_cam(torch.from_numpy(array[None]), index)
        chosen = self.labels[int(np.argmax(logits))] if class_id is None else class_id
        return HeatMap(chosen, cam, crop)
