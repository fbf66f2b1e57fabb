"""serve.identify.heatmap: class activation maps from the ONNX model, no torch in serving.

The proof that CAM equals Grad-CAM at the last feature map (the module docstring gives
the algebra) is checked against a torch Grad-CAM written here, as the reference:
exactly on torch's own feature map, and to the export's tolerance on ONNX Runtime's.
An object pasted into one corner of a blank canvas must light up that corner."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from serve.identify.heatmap import HeatMapper, class_activation_map

pytestmark = pytest.mark.model


def torch_gradcam(model, layer, x, class_index: int) -> np.ndarray:
    """Grad-CAM (Selvaraju et al., 2017) at `layer`: gradient-weighted feature maps, ReLU,
    bilinear upsampling to the input, divided by the peak."""
    import torch
    import torch.nn.functional as F

    captured = {}
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.__setitem__("act", out))
    try:
        with torch.enable_grad():
            logits = model(x)
            (grad,) = torch.autograd.grad(logits[0, class_index], captured["act"])
    finally:
        handle.remove()
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * captured["act"].detach()).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)[0, 0].numpy()
    return cam / cam.max() if cam.max() > 0 else cam


@pytest.fixture(scope="module")
def predictor(model_bundle):
    from serve.identify.predictor import Predictor

    return Predictor.load(model_bundle)


@pytest.fixture(scope="module")
def mapper(predictor):
    return HeatMapper.for_predictor(predictor)


@pytest.fixture(scope="module")
def torch_model(model_bundle):
    import torch

    from train.bundle import Bundle

    torch.manual_seed(0)
    return Bundle.load(model_bundle).build_model()


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


@pytest.mark.parametrize("cls", ["tiger", "ivory_carving", "elephant"])
def test_cam_equals_torch_gradcam_at_the_last_feature_map(mapper, torch_model, photos_root, cls):
    import torch

    array, _ = mapper.prepare(_photo(photos_root, cls))
    x = torch.from_numpy(array[None])
    layer = torch_model.backbone.bn2  # what global pooling reads
    for index in (mapper.labels.index(cls) if cls in mapper.labels else 0, len(mapper.labels) - 1):
        reference = torch_gradcam(torch_model, layer, x, index)
        # the algebra, on torch's own feature map: equal to float precision
        with torch.no_grad():
            fmap = torch_model.backbone.forward_features(x)[0].numpy()
        ours = class_activation_map(fmap, torch_model.head.weight[index].detach().numpy(), 224)
        np.testing.assert_allclose(ours, reference, atol=1e-5)
        # what the app computes, from ONNX Runtime's feature map: equal to the export's tolerance
        logits, onnx_map = mapper.predictor.logits_and_feature_map(array[None])
        served = class_activation_map(onnx_map[0], mapper.weights[index], 224)
        np.testing.assert_allclose(served, reference, atol=2e-3)
        assert float(np.corrcoef(served.ravel(), reference.ravel())[0, 1]) > 0.9999


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


def test_explain_for_a_named_class_and_overlay(mapper, photos_root):
    photo = _photo(photos_root, "tiger")
    heat = mapper.explain(photo, class_id="lion") if "lion" in mapper.labels else mapper.explain(photo)
    image = heat.overlay(size=300)
    assert image.size == (300, 300) and image.mode == "RGB"
    assert np.asarray(image).std() > 0
    with pytest.raises(ValueError, match="not one the model knows"):
        mapper.explain(photo, class_id="unicorn")


def test_a_bundle_exported_without_the_feature_map_is_mended_when_loaded(model_bundle, tmp_path, photos_root):
    """Older exports output logits, features and ImageNet logits only: serving adds the
    feature-map output to the graph in memory (no re-export, no torch)."""
    import onnx

    from serve.identify.predictor import Predictor
    from train.export import FEATURE_MAP

    folder = tmp_path / "old"
    shutil.copytree(model_bundle, folder, ignore=shutil.ignore_patterns("report-*"))
    model = onnx.load(str(folder / "model.onnx"))
    kept = [o for o in model.graph.output if o.name != FEATURE_MAP]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    nodes = [n for n in model.graph.node if FEATURE_MAP not in n.output]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.metadata_props[:]  # as exports before serving read their metadata
    onnx.save(model, str(folder / "model.onnx"))
    assert FEATURE_MAP not in {o.name for o in onnx.load(str(folder / "model.onnx")).graph.output}
    heat = HeatMapper.for_predictor(Predictor.load(folder)).explain(_photo(photos_root, "tiger"))
    assert heat.cam.shape == (224, 224) and heat.cam.max() == pytest.approx(1.0)
