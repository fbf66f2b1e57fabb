"""Running a bundle's network: ONNX Runtime when the bundle has an export, torch otherwise.

Evaluation and serving both go through `ModelRunner`, so the numbers in a model
card come from the same code path the officer's photo takes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .bundle import Bundle


@dataclass(frozen=True)
class Outputs:
    logits: np.ndarray  # (n, classes), before temperature
    features: np.ndarray  # (n, d) pooled backbone features
    imagenet_logits: np.ndarray  # (n, 1000)


class ModelRunner:
    def __init__(self, bundle: Bundle, backend: str = "auto", threads: int | None = None):
        self.bundle = bundle
        self.threads = threads or os.cpu_count() or 1
        if backend == "auto":
            backend = "onnx" if bundle.onnx_path.exists() else "torch"
        if backend not in ("onnx", "torch"):
            raise ValueError(f"backend must be 'onnx', 'torch' or 'auto', got {backend!r}")
        self.backend = backend
        if backend == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session = ort.InferenceSession(str(bundle.onnx_path), options, providers=["CPUExecutionProvider"])
        else:
            import torch

            self._model = bundle.build_model()
            self._torch = torch

    def run(self, batch: np.ndarray) -> Outputs:
        """`batch`: (n, 3, S, S) float32 from `train.preprocess`."""
        if batch.ndim != 4:
            raise ValueError(f"expected a (n, 3, S, S) batch, got shape {batch.shape}")
        if self.backend == "onnx":
            logits, feats, imagenet = self._session.run(None, {"input": np.ascontiguousarray(batch, np.float32)})
        else:
            torch = self._torch
            with torch.inference_mode():
                x = torch.from_numpy(np.ascontiguousarray(batch, np.float32))
                logits, feats, imagenet = (t.numpy() for t in self._model.forward_all(x))
        return Outputs(logits, feats, imagenet)
