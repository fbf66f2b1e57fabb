"""The one preprocessing path: centre crop + resize in one step, for every crop setting."""
import numpy as np
import pytest
from PIL import Image

from train.preprocess import Preprocessing, centre_crop_resize, to_input


@pytest.mark.parametrize("crop_pct", [1.0, 0.95, 0.875, 0.3])
@pytest.mark.parametrize("size", [(301, 301), (333, 500), (500, 333), (1, 7), (4032, 3024), (97, 1000)])
def test_any_photo_size_and_crop_gives_the_input_shape(size, crop_pct):
    for input_size in (224, 260, 288):
        cfg = Preprocessing(input_size, crop_pct)
        x = to_input(Image.new("RGB", size, (10, 200, 30)), cfg)
        assert x.shape == (3, input_size, input_size) and np.isfinite(x).all()


def test_full_crop_of_a_square_photo_is_a_plain_resize():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (301, 301, 3), dtype=np.uint8))
    got = np.asarray(centre_crop_resize(image, Preprocessing(224, 1.0)))
    want = np.asarray(image.resize((224, 224), Image.Resampling.BICUBIC, reducing_gap=3.0))
    np.testing.assert_array_equal(got, want)
