"""Bundle weights: safetensors written and read without torch; older torch files still load."""
import numpy as np
import pytest
import torch

from train.weights import StateDict, load_arrays, load_tensors, save_weights, weights_file


def _state():
    g = torch.Generator().manual_seed(0)
    return {"backbone.conv.weight": torch.randn(4, 3, 3, 3, generator=g), "head.weight": torch.randn(2, 4, generator=g),
            "head.bias": torch.zeros(2), "imagenet_head.weight": torch.randn(5, 4, generator=g),
            "imagenet_head.bias": torch.randn(5, generator=g)}


def test_round_trip_is_exact_for_tensors_and_arrays(tmp_path):
    state = _state()
    save_weights(state, tmp_path / "weights.safetensors")
    arrays = load_arrays(tmp_path / "weights.safetensors")
    tensors = load_tensors(tmp_path / "weights.safetensors")
    assert set(arrays) == set(tensors) == set(state)
    for k, v in state.items():
        np.testing.assert_array_equal(arrays[k], v.numpy())
        assert torch.equal(tensors[k], v)


def test_a_legacy_torch_file_is_found_and_read(tmp_path):
    state = _state()
    torch.save(state, tmp_path / "weights.pt")
    assert weights_file(tmp_path).name == "weights.pt"
    np.testing.assert_array_equal(load_arrays(weights_file(tmp_path))["head.weight"], state["head.weight"].numpy())
    save_weights(state, tmp_path / "weights.safetensors")
    assert weights_file(tmp_path).name == "weights.safetensors"  # the new file wins


def test_state_dict_swaps_the_species_head_only():
    state = _state()
    w, b = np.ones((3, 4), np.float32), np.arange(3, dtype=np.float32)
    new = StateDict.with_head(state, w, b).state_dict()
    np.testing.assert_array_equal(new["head.weight"], w)
    np.testing.assert_array_equal(new["head.bias"], b)
    np.testing.assert_array_equal(new["imagenet_head.weight"], state["imagenet_head.weight"].numpy())
    with pytest.raises(ValueError, match="imagenet_head"):
        StateDict.with_head({"backbone.x": torch.zeros(1)}, w, b)
