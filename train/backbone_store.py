"""What every head-mode fit over one frozen backbone shares, stored once beside its embeddings.

`data/embeddings/<arch>-<weights digest>-<size>/backbone/`:
  weights.safetensors  the backbone and ImageNet head, converted from the weight package
  model.onnx           the whole network exported and checked against torch (`train.export`);
                       each fit patches its own species head in (`train.export.export_with_head`)
  export.txt           `train.export.EXPORT_VERSION` at the time of the export

A head-mode re-fit whose photos are all embedded then needs neither torch nor timm nor
an export: the first fit writes the store, later ones read it (bench/fit_times.py).
A store written by an older exporter, or half-written, is simply made again.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
import numpy as np

from .export import EXPORT_VERSION, export_onnx
from .weights import StateDict, load_arrays, save_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackboneStore:
    root: Path

    @classmethod
    def beside(cls, cache_root: Path) -> "BackboneStore":
        return cls(Path(cache_root) / "backbone")

    @property
    def weights_path(self) -> Path:
        return self.root / "weights.safetensors"

    @property
    def onnx_path(self) -> Path:
        return self.root / "model.onnx"

    def complete(self) -> bool:
        try:
            version = (self.root / "export.txt").read_text().strip()
        except OSError:
            return False
        return version == EXPORT_VERSION and self.weights_path.is_file() and self.onnx_path.is_file()

    def save(self, model, input_size: int) -> None:
        """Store `model`'s frozen parts and its export (written aside, then renamed into place)."""
        self.root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".backbone-", dir=self.root.parent))
        try:
            frozen = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
            save_weights(frozen, tmp / "weights.safetensors")
            export_onnx(model, input_size, tmp / "model.onnx")
            (tmp / "export.txt").write_text(EXPORT_VERSION + "\n")
            if self.root.exists():  # stale (older exporter) or half-written: replace it
                shutil.rmtree(self.root, ignore_errors=True)
            try:
                os.rename(tmp, self.root)
            except OSError:  # another fit stored it first: theirs is as good as ours
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def classifier(self, weight: np.ndarray, bias: np.ndarray) -> StateDict:
        """The stored backbone and ImageNet head with this species head (no network built)."""
        return StateDict.with_head(load_arrays(self.weights_path), weight, bias)
