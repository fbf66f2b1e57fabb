"""ONNX export of the whole network, checked against torch before it is kept.

The graph is exported for the bundle's fixed input size: TensorFlow-"same" padding
becomes constants and is folded into the convolutions, so ONNX Runtime runs one
unbroken chain of blocked-layout convolutions (bench/forward_floor.py, bench/RESULTS.md).
It also outputs the last feature map (`feature_map`: what global pooling reads), so the
app draws class activation maps without torch (`serve.identify.heatmap`).
torch is imported inside the export functions only: serving uses `fold_pads_in_model`
and `add_feature_map_output`, which also mend bundles exported before either existed.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

OUTPUTS = ("logits", "features", "imagenet_logits")
READY = ("wildlife_id.serving", "padding folded, feature_map output")  # metadata of a file needing no mending
FEATURE_MAP = "feature_map"  # (n, channels, h, w): the last convolutional block, before global pooling
POOLING = ("GlobalAveragePool",)
TOLERANCE = 1e-4
# Changed whenever the exported graph changes, so stored exports (train.backbone_store) are redone.
EXPORT_VERSION = "2-static-same-padding"


def export_onnx(model, input_size: int, path: Path, check: bool = True,
                outputs: tuple[str, ...] | None = None) -> Path:
    """Export `model` with a dynamic batch axis and check ONNX Runtime against torch.

    A `SpeciesClassifier` exports all three outputs (`OUTPUTS`); any other module (a bare
    backbone, for embedding) exports its single output under `outputs` (default "features")."""
    import torch

    from .model import ExportWrapper

    if hasattr(model, "forward_all"):
        wrapper, names = ExportWrapper(model).eval(), OUTPUTS
    else:
        wrapper, names = model.eval(), tuple(outputs or ("features",))
    example = torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two tiny forwards: a second thread only adds waiting on a busy machine
    try:
        _export_and_check(torch, wrapper, names, example, input_size, Path(path), check)
    finally:
        torch.set_num_threads(threads)
    return path


def _export_and_check(torch, wrapper, names, example, input_size: int, path: Path, check: bool) -> None:
    with static_same_padding(wrapper, input_size):
        torch.onnx.export(
            wrapper, (example,), str(path), input_names=["input"], output_names=list(names),
            dynamic_axes={"input": {0: "batch"}, **{o: {0: "batch"} for o in names}},
            opset_version=17, dynamo=False,
        )
    fold_pads_into_convs(path, input_size)
    if check:
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"input": example.numpy()})
        with torch.no_grad():
            want = wrapper(example)
            want = [t.numpy() for t in (want if isinstance(want, (tuple, list)) else (want,))]
        for name, g, w in zip(names, got, want):
            err = float(np.max(np.abs(g - w)) / (np.max(np.abs(w)) + 1e-12))
            if err > TOLERANCE:
                raise RuntimeError(f"ONNX export differs from torch on {name!r}: relative error {err:.2e} > {TOLERANCE}")


def _padded_conv(conv, pads: tuple[int, int, int, int], x):
    import torch

    return torch.nn.functional.conv2d(torch.nn.functional.pad(x, pads), conv.weight, conv.bias, conv.stride,
                                      (0, 0), conv.dilation, conv.groups)


@contextmanager
def static_same_padding(module, input_size: int):
    """While exporting, timm's TensorFlow-"same" convolutions pad by constants.

    `Conv2dSame` works its padding out from the input shape at run time, which the ONNX
    trace records as ~150 shape-arithmetic nodes and 5 `Pad` nodes that ONNX Runtime can
    neither fold into the convolutions nor keep in its blocked (NCHWc) layout. A bundle's
    input size is fixed, so the padding is too: the same zeros, as constants that ONNX
    Runtime fuses into each convolution's own padding."""
    try:
        from timm.layers.conv2d_same import Conv2dSame
        from timm.layers.padding import get_same_padding
    except ImportError:  # pragma: no cover - timm without these layers: nothing to do
        yield
        return
    import copy

    import torch

    same = {name: m for name, m in module.named_modules() if isinstance(m, Conv2dSame)}
    if not same:
        yield
        return
    # each convolution's input size, from a shape-only run on a "meta" copy (no arithmetic)
    sizes: dict[str, tuple[int, int]] = {}
    shadow = copy.deepcopy(module).to("meta")
    for name, m in shadow.named_modules():
        if name in same:
            m.register_forward_pre_hook(lambda mod, args, name=name: sizes.__setitem__(name, tuple(args[0].shape[-2:])))
    with torch.no_grad():
        shadow(torch.zeros(1, 3, input_size, input_size, device="meta"))
    del shadow
    for name, m in same.items():
        (ih, iw), (kh, kw) = sizes[name], m.weight.shape[-2:]
        pad_h = get_same_padding(ih, kh, m.stride[0], m.dilation[0])
        pad_w = get_same_padding(iw, kw, m.stride[1], m.dilation[1])
        m.forward = partial(_padded_conv, m, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
    try:
        yield
    finally:
        for m in same.values():
            del m.forward  # the class's own (dynamic) forward again


def _attribute(node, name: str, default):
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def fold_pads_into_convs(path: Path, input_size: int) -> int:
    """`fold_pads_in_model` on an ONNX file, rewritten in place when anything was folded."""
    import onnx

    model = onnx.load(str(path))
    folded = fold_pads_in_model(model, input_size)
    if folded:
        onnx.save(model, str(path))
    return folded


def fold_pads_in_model(model, input_size: int) -> int:
    """Rewrite `Pad(zeros) -> Conv` as one `Conv` with the padding in its own `pads`.

    ONNX Runtime keeps a separate `Pad` out of its blocked (NCHWc) convolution layout:
    each one costs a layout reorder out, the pad copy and a reorder back. Only zero,
    constant, spatial padding feeding exactly one `Conv` is folded, so the result is the
    same arithmetic. Pad amounts computed from the input shape (older exports) are
    evaluated once at `input_size`, the size the graph's input declares.
    Returns how many were folded; `model` (an `onnx.ModelProto`) is changed in place."""
    from collections import defaultdict

    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    graph = model.graph
    dims = graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4 or any(d.dim_value != input_size for d in dims[2:]):
        return 0  # only a graph fixed at `input_size` may have its padding fixed too
    users = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            users[name].append(node)
    graph_outputs = {o.name for o in graph.output}
    pairs = []
    for node in graph.node:
        if node.op_type != "Pad" or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
            continue
        if _attribute(node, "mode", b"constant") not in (b"constant", "constant") or node.output[0] in graph_outputs:
            continue
        if len(node.input) > 3 and node.input[3]:  # explicit axes: leave it
            continue
        after = users[node.output[0]]
        if len(after) != 1 or after[0].op_type != "Conv" or after[0].input[0] != node.output[0]:
            continue
        if _attribute(after[0], "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            continue
        pairs.append((node, after[0]))
    if not pairs:
        return 0
    # the pad amounts (and fill values) are constant sub-graphs: let ONNX Runtime evaluate them
    initializers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    wanted = {n.input[i] for n, _ in pairs for i in (1, 2) if i < len(n.input) and n.input[i]}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in sorted(wanted - set(initializers) - graph_outputs):
        probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = dict(zip(names, session.run(None, {graph.input[0].name: np.zeros((1, 3, input_size, input_size),
                                                                               np.float32)})))
    values.update(initializers)
    folded = 0
    for pad, conv in pairs:
        amounts = np.asarray(values[pad.input[1]]).astype(np.int64).ravel()
        fill = values.get(pad.input[2]) if len(pad.input) > 2 and pad.input[2] else None
        if amounts.size != 8 or np.any(amounts < 0) or np.any(amounts[[0, 1, 4, 5]] != 0):
            continue
        if fill is not None and np.any(np.asarray(fill) != 0):
            continue
        top, left, bottom, right = _attribute(conv, "pads", [0, 0, 0, 0])
        new = [int(top + amounts[2]), int(left + amounts[3]), int(bottom + amounts[6]), int(right + amounts[7])]
        for a in list(conv.attribute):
            if a.name == "pads":
                conv.attribute.remove(a)
        conv.attribute.append(onnx.helper.make_attribute("pads", new))
        conv.input[0] = pad.input[0]
        graph.node.remove(pad)
        folded += 1
    _drop_unused(graph)
    return folded


def _drop_unused(graph) -> None:
    """Remove nodes none of whose outputs is used (the pad arithmetic left behind)."""
    while True:
        used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            return
        for node in dead:
            graph.node.remove(node)


def patch_onnx_head(src: Path, weight: np.ndarray, bias: np.ndarray, dst: Path) -> Path | None:
    """Copy of an exported ONNX file with the species head replaced; None if it cannot be patched
    (the caller then exports afresh). Checked: logits == features @ W.T + b on a random batch."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    names = {"model.head.weight": weight.astype(np.float32), "model.head.bias": bias.astype(np.float32)}
    found = 0
    for init in model.graph.initializer:
        if init.name in names:
            init.CopyFrom(numpy_helper.from_array(names[init.name], init.name))
            found += 1
    if found != 2:
        return None
    for out in list(model.graph.output) + list(model.graph.value_info):
        if out.name == "logits" and len(out.type.tensor_type.shape.dim) == 2:
            out.type.tensor_type.shape.dim[1].dim_value = weight.shape[0]
    onnx.save(model, str(dst))
    import onnxruntime as ort

    session = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    size = session.get_inputs()[0].shape[2]
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    logits, feats = session.run(["logits", "features"], {"input": x})
    want = feats @ weight.T + bias
    if logits.shape != want.shape or not np.allclose(logits, want, rtol=1e-4, atol=1e-3):
        log.warning("patched ONNX head disagrees with its features; exporting afresh")
        return None
    return dst


def add_feature_map_output(model) -> bool:
    """Expose the tensor global pooling reads as the graph output `feature_map`.

    `model` is an `onnx.ModelProto`, changed in place; True when the output was added (or
    was there). False when `features` does not come from a pooling node (Flatten/Reshape/
    Squeeze over GlobalAveragePool): the graph is left alone and no heat map is possible."""
    import onnx

    graph = model.graph
    if any(o.name == FEATURE_MAP for o in graph.output):
        return True
    producer = {out: node for node in graph.node for out in node.output}
    node = producer.get("features")
    while node is not None and node.op_type in ("Flatten", "Reshape", "Squeeze", "Identity"):
        node = producer.get(node.input[0])
    if node is None or node.op_type not in POOLING:
        return False
    if FEATURE_MAP not in producer:
        graph.node.append(onnx.helper.make_node("Identity", [node.input[0]], [FEATURE_MAP], name="feature_map_out"))
    graph.output.append(onnx.helper.make_tensor_value_info(FEATURE_MAP, onnx.TensorProto.FLOAT,
                                                           ["batch", None, None, None]))
    return True


def export_with_head(model, arch: str, input_size: int, dst: Path, base: Path | None = None) -> Path:
    """`model`'s ONNX file at `dst`: `base` (an earlier export of the same backbone) with this
    species head patched in and checked, when there is one and it patches; else a fresh
    export (a `train.weights.StateDict` builds its network for that). Either way the file
    also outputs the last feature map."""
    import onnx

    from .weights import StateDict, to_numpy

    state = model.state_dict()
    patched = base is not None and Path(base).exists() and \
        patch_onnx_head(Path(base), to_numpy(state["head.weight"]), to_numpy(state["head.bias"]), dst)
    if not patched:
        network = model.module(arch) if isinstance(model, StateDict) else model
        export_onnx(network, input_size, dst)
    exported = onnx.load(str(dst))
    if add_feature_map_output(exported):
        fold_pads_in_model(exported, input_size)  # a no-op for current exports
        mark_ready(exported)
    onnx.save(exported, str(dst))
    return dst


def mark_ready(model) -> None:
    """Say in the file's metadata that it needs no mending (serving then never imports onnx)."""
    key, value = READY
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
            return
    model.metadata_props.add(key=key, value=value)
