"""ONNX export of the whole network, checked against torch before it is kept."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .model import ExportWrapper

OUTPUTS = ("logits", "features", "imagenet_logits")
TOLERANCE = 1e-4


def export_onnx(model, input_size: int, path: Path, check: bool = True) -> Path:
    wrapper = ExportWrapper(model).eval()
    example = torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    torch.onnx.export(
        wrapper, (example,), str(path), input_names=["input"], output_names=list(OUTPUTS),
        dynamic_axes={"input": {0: "batch"}, **{o: {0: "batch"} for o in OUTPUTS}},
        opset_version=17, dynamo=False,
    )
    if check:
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"input": example.numpy()})
        with torch.no_grad():
            want = [t.numpy() for t in wrapper(example)]
        for name, g, w in zip(OUTPUTS, got, want):
            err = float(np.max(np.abs(g - w)) / (np.max(np.abs(w)) + 1e-12))
            if err > TOLERANCE:
                raise RuntimeError(f"ONNX export differs from torch on {name!r}: relative error {err:.2e} > {TOLERANCE}")
    return path
