"""serve.identify.heatmap: Grad-CAM is wired to the last conv block (backbone.bn2) of the bundle's
torch model. An object pasted into one corner of a blank canvas must light up that
corner; hooking an early layer must give a different map."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from serve.identify.heatmap import GradCam, HeatMapper, target_layer

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def mapper(model_bundle):
    from train.bundle import Bundle

    torch.manual_seed(0)
    return HeatMapper(Bundle.load(model_bundle))


def _corner_canvas(photo: Path, corner: str = "top_left") -> Image.Image:
    """A real photo shrunk to 200 px, pasted 40 px in from one corner of a grey 448 canvas."""
    obj = Image.open(photo).convert("RGB")
    obj.thumbnail((200, 200))
    canvas = Image.new("RGB", (448, 448), (128, 128, 128))
    x = 40 if "left" in corner else 448 - 40 - obj.width
    y = 40 if "top" in corner else 448 - 40 - obj.height
    canvas.paste(obj, (x, y))
    return canvas


def _quadrants(cam: np.ndarray) -> dict[str, float]:
    h = cam.shape[0] // 2
    parts = {"top_left": cam[:h, :h], "top_right": cam[:h, h:],
             "bottom_left": cam[h:, :h], "bottom_right": cam[h:, h:]}
    total = float(cam.sum())
    return {k: float(v.sum()) / total for k, v in parts.items()}


def _photo(photos_root: Path, cls: str) -> Path:
    folder = photos_root / cls
    if not folder.is_dir():
        pytest.skip(f"no {cls} photos in {photos_root}")
    return sorted(folder.iterdir())[0]


def test_target_layer_is_the_last_conv_block_before_pooling(mapper):
    backbone = mapper.model.backbone
    assert target_layer(mapper.model) is backbone.bn2
    assert mapper.gradcam.layer is backbone.bn2
    # bn2 is what global pooling reads: its output has the pooled feature width
    seen = {}

    def keep(_module, _inputs, output):
        seen["shape"] = output.shape

    handle = backbone.bn2.register_forward_hook(keep)
    with torch.no_grad():
        feats = mapper.model.features(torch.zeros(1, 3, 224, 224))
    handle.remove()
    assert seen["shape"][1] == feats.shape[1]
    assert seen["shape"][-1] == 7  # coarse spatial grid, not an early high-resolution map


@pytest.mark.parametrize("cls,corner", [("tiger", "top_left"), ("elephant", "bottom_right")])
def test_cam_peaks_in_the_corner_holding_the_object(mapper, photos_root, cls, corner):
    heat = mapper.explain(_corner_canvas(_photo(photos_root, cls), corner))
    assert heat.cam.shape == (224, 224)
    assert 0.0 <= heat.cam.min() and heat.cam.max() == pytest.approx(1.0)
    shares = _quadrants(heat.cam)
    assert max(shares, key=shares.get) == corner, shares
    assert shares[corner] > 0.5, shares
    py, px = np.unravel_index(heat.cam.argmax(), heat.cam.shape)
    assert ("top" in corner) == (py < 112) and ("left" in corner) == (px < 112)


def test_hooking_an_early_layer_gives_a_different_map(mapper, photos_root):
    canvas = _corner_canvas(_photo(photos_root, "tiger"))
    x = torch.from_numpy(mapper.prepare(canvas)[0][None])
    index = mapper.labels.index(mapper.explain(canvas).class_id)
    right = mapper.gradcam(x, index)
    wrong = GradCam(mapper.model, mapper.model.backbone.conv_stem)(x, index)
    assert wrong.shape == right.shape
    corr = float(np.corrcoef(right.ravel(), wrong.ravel())[0, 1])
    assert corr < 0.8, corr
    assert np.abs(right - wrong).mean() > 0.1


def test_explain_for_a_named_class_and_overlay(mapper, photos_root):
    photo = _photo(photos_root, "tiger")
    heat = mapper.explain(photo, class_id="lion")
    assert heat.class_id == "lion"
    image = heat.overlay(size=300)
    assert image.size == (300, 300) and image.mode == "RGB"
    assert np.asarray(image).std() > 0
    with pytest.raises(ValueError, match="not one the model knows"):
        mapper.explain(photo, class_id="unicorn")
