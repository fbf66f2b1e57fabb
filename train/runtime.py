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


OUTPUTS = ("logits", "features", "imagenet_logits")


@dataclass(frozen=True)
class Outputs:
    logits: np.ndarray  # (n, classes), before temperature
    features: np.ndarray  # (n, d) pooled backbone features
    imagenet_logits: np.ndarray  # (n, 1000)


def _mended(bundle: Bundle) -> str | bytes:
    """For a bundle exported before padding was folded into the convolutions
    (`train.export.fold_pads_in_model`) or before it output its last feature map
    (`train.export.add_feature_map_output`): the same graph mended now, in memory.
    (Current exports say in their metadata that they need neither: `train.export.READY`.)"""
    path = bundle.onnx_path
    try:
        import onnx

        from .export import FEATURE_MAP, add_feature_map_output, fold_pads_in_model

        model = onnx.load(str(path))
        changed = False
        if any(node.op_type == "Pad" for node in model.graph.node):
            changed = fold_pads_in_model(model, bundle.meta.preprocessing.input_size) > 0
        if not any(o.name == FEATURE_MAP for o in model.graph.output):
            changed = add_feature_map_output(model) or changed
        if changed:
            return model.SerializeToString()
    except Exception as err:  # noqa: BLE001 - the file as it is still runs, only slower / without heat maps
        log.warning("running %s unchanged: it could not be mended (%s)", path, err)
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

            from .export import READY

            options, providers = session_options(self.threads), ["CPUExecutionProvider"]
            self._session = ort.InferenceSession(str(bundle.onnx_path), options, providers=providers)
            ready = self._session.get_modelmeta().custom_metadata_map.get(READY[0]) == READY[1]
            if not ready or "feature_map" not in {o.name for o in self._session.get_outputs()}:
                self._session = ort.InferenceSession(_mended(bundle), options, providers=providers)
            self.has_feature_map = "feature_map" in {o.name for o in self._session.get_outputs()}
        else:
            import torch

            self._model = bundle.build_model()
            self._torch = torch

    def run(self, batch: np.ndarray) -> Outputs:
        """`batch`: (n, 3, S, S) float32 from `train.preprocess`."""
        if batch.ndim != 4:
            raise ValueError(f"expected a (n, 3, S, S) batch, got shape {batch.shape}")
        if self.backend == "onnx":
            logits, feats, imagenet = self._session.run(list(OUTPUTS),
                                                        {"input": np.ascontiguousarray(batch, np.float32)})
        else:
            torch = self._torch
            with torch.inference_mode():
                x = torch.from_numpy(np.ascontiguousarray(batch, np.float32))
                logits, feats, imagenet = (t.numpy() for t in self._model.forward_all(x))
        return Outputs(logits, feats, imagenet)

    def logits_and_feature_map(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits (n, classes), last feature map (n, channels, h, w)) from the ONNX graph."""
        if self.backend != "onnx" or not self.has_feature_map:
            raise ValueError(f"{self.bundle.path}: this model gives no feature map (no ONNX export whose pooled "
                             "features come from global average pooling); heat maps need one: re-export the "
                             "bundle with `python -m train fit`")
        logits, fmap = self._session.run(["logits", "feature_map"], {"input": np.ascontiguousarray(batch, np.float32)})
        return logits, fmap
