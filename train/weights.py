"""Network weights on disk, readable without torch: `weights.safetensors`.

A state dict is a flat mapping of parameter names to arrays. Bundles and the backbone
store write safetensors (no pickle; numpy can read it, so a head-mode re-fit needs no
torch at all). Bundles written before this format carry `weights.pt` (a torch state
dict): they still load, through torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

FILE = "weights.safetensors"
LEGACY_FILE = "weights.pt"


def to_numpy(value: Any) -> np.ndarray:
    """A torch tensor (any device) or array-like as a contiguous numpy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.ascontiguousarray(value)


def weights_file(folder: Path) -> Path:
    """The weights file in `folder`: safetensors, else the legacy torch file."""
    folder = Path(folder)
    new = folder / FILE
    return new if new.exists() or not (folder / LEGACY_FILE).exists() else folder / LEGACY_FILE


def save_weights(state: Mapping[str, Any], path: Path) -> Path:
    from safetensors.numpy import save_file

    save_file({k: to_numpy(v) for k, v in state.items()}, str(path))
    return Path(path)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """The state dict as numpy arrays (a legacy `weights.pt` needs torch)."""
    path = Path(path)
    if path.suffix == ".pt":
        return {k: to_numpy(v) for k, v in load_tensors(path).items()}
    from safetensors.numpy import load_file

    return load_file(str(path))


def load_tensors(path: Path) -> dict:
    """The state dict as CPU torch tensors."""
    import torch

    path = Path(path)
    if path.suffix == ".pt":
        return torch.load(path, map_location="cpu", weights_only=True)
    from safetensors.torch import load_file

    return load_file(str(path))


class StateDict:
    """What `save_bundle` needs of a classifier, its state dict, without building the network.

    Holds numpy arrays: writing a bundle from it needs no torch."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self._state = {k: to_numpy(v) for k, v in state.items()}

    @classmethod
    def with_head(cls, state: Mapping[str, Any], weight: np.ndarray, bias: np.ndarray) -> "StateDict":
        """`state`'s backbone and ImageNet head, exactly, with this species head."""
        needed = {"imagenet_head.weight", "imagenet_head.bias"}
        if not needed <= set(state) or not any(k.startswith("backbone.") for k in state):
            raise ValueError(f"weights lack the backbone or {sorted(needed - set(state))}: not a species "
                             "classifier's state dict; retrain it with `python -m train fit`")
        new = dict(state)
        new["head.weight"] = np.ascontiguousarray(weight, np.float32)
        new["head.bias"] = np.ascontiguousarray(bias, np.float32)
        return cls(new)

    def state_dict(self) -> dict[str, np.ndarray]:
        return self._state

    def module(self, arch: str):
        """The full network, a `SpeciesClassifier` (only needed to export ONNX afresh)."""
        import torch

        from .model import SpeciesClassifier

        model = SpeciesClassifier(arch, self._state["head.weight"].shape[0])
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self._state.items()}, strict=True)
        return model.eval()
