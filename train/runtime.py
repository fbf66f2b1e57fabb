"""Running a bundle's network: ONNX Runtime when the bundle has an export, torch otherwise.

Evaluation and serving both go through `ModelRunner`, so the numbers in a model
card come from the same code path the officer's photo takes.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from .bundle import Bundle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outputs:
    logits: np.ndarray  # (n, classes), before temperature
    features: np.ndarray  # (n, d) pooled backbone features
    imagenet_logits: np.ndarray  # (n, 1000)


def _onnx_source(bundle: Bundle) -> str | bytes:
    """The bundle's ONNX file, or, for a bundle exported before padding was folded into the
    convolutions (`train.export.fold_pads_in_model`), the same graph with it folded now."""
    path = bundle.onnx_path
    try:
        import onnx

        from .export import fold_pads_in_model

        model = onnx.load(str(path))
        if any(node.op_type == "Pad" for node in model.graph.node):
            if fold_pads_in_model(model, bundle.meta.preprocessing.input_size):
                return model.SerializeToString()
    except Exception as err:  # noqa: BLE001 - the file as it is still runs, only slower
        log.warning("running %s unchanged: padding could not be folded (%s)", path, err)
    return str(path)


def session_options(threads: int):
    """ONNX Runtime settings for a CPU forward (bench/forward_floor.py measures the choices):
    every graph optimisation (conv+BN+activation fusion, NCHWc layout), the nodes run one
    after another (this network is a chain: parallel node scheduling only adds overhead),
    each node uses `threads` threads, and idle threads do not spin."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads sleep instead of spinning: a spinning thread holds a core that
    # the decision's numpy product, the next photo's decode or another process needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


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

            self._session = ort.InferenceSession(_onnx_source(bundle), session_options(self.threads),
                                                 providers=["CPUExecutionProvider"])
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
