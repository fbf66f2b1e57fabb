"""The network's forward pass at batch 1 against this machine's FLOP floor.

    floor = model FLOPs (torch.utils.flop_counter.FlopCounterMode, 2 per multiply-add)
            / this machine's fp32 GEMM rate (4096 x 4096 matmul, best of repeats, `--threads`)

Target (issue): ONNX Runtime forward at batch 1 <= 1.5 x floor. Also timed, interleaved
so load hits them alike: ORT as `train.runtime.ModelRunner` configures it, the bundle's
ONNX file as written (an older export keeps TF-"same" padding as separate Pad nodes,
which ModelRunner folds into the convolutions), ORT with one thread, ORT with its
default spin-waiting threads, eager torch (NCHW and channels-last).

Run: python bench/forward_floor.py [--quick]
"""
from __future__ import annotations

import time

try:
    from . import common as c
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]

TITLE = "Forward pass vs the FLOP floor (batch 1)"
QUIET_GFLOPS = 196.0  # 4096^2 fp32 matmul, 2 threads, this machine when idle (issue text)


def model_flops(model, size: int) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.forward_all(torch.zeros(1, 3, size, size))
    return float(counter.get_total_flops())


def _ort(source, threads: int, spinning: bool | None = None):
    import onnxruntime as ort

    from train.runtime import session_options

    options = session_options(threads)
    if spinning is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run(args) -> c.Report:
    import numpy as np
    import torch

    from train.bundle import Bundle
    from train.runtime import ModelRunner, _mended

    repeats = 3 if args.quick else 60
    bundle = Bundle.load(args.bundle)
    size = bundle.meta.preprocessing.input_size
    torch.set_num_threads(args.threads)
    model = bundle.build_model()
    flops = model_flops(model, size)
    gemm = c.gemm_gflops(args.threads, n=1024 if args.quick else 4096, repeats=2 if args.quick else 5)
    floor = flops / (gemm * 1e9)

    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    xt = torch.from_numpy(x)
    xt_cl = xt.contiguous(memory_format=torch.channels_last)
    model_cl = bundle.build_model().to(memory_format=torch.channels_last)
    runner = ModelRunner(bundle, "onnx", args.threads)
    source = _mended(bundle)  # padding folded into the convolutions
    as_file = _ort(str(bundle.onnx_path), args.threads)
    one = _ort(source, 1)
    spin = _ort(source, args.threads, spinning=True)

    note = " (padding not folded)" if isinstance(source, bytes) else ""

    def eager(m, inp):
        def f():
            with torch.inference_mode():
                m.forward_all(inp)
        return f

    variants = {
        f"ONNX Runtime, ModelRunner ({args.threads} threads)": lambda: runner.run(x),
        f"ONNX Runtime, bundle file as written{note} ({args.threads} threads)":
            lambda: as_file.run(None, {"input": x}),
        "ONNX Runtime, 1 thread": lambda: one.run(None, {"input": x}),
        f"ONNX Runtime, {args.threads} threads, spin-waiting (ORT's default)": lambda: spin.run(None, {"input": x}),
        f"eager torch NCHW ({args.threads} threads)": eager(model, xt),
        f"eager torch channels-last ({args.threads} threads)": eager(model_cl, xt_cl),
    }
    times = {name: [] for name in variants}
    for f in variants.values():
        c.timings(f, 2 if args.quick else 5)  # warm-up
    # round robin, so a burst of load hits every variant; ONNX Runtime and torch in separate
    # rounds: torch's OpenMP threads keep spinning after a forward and would slow the next one
    for group in ([n for n in variants if "torch" not in n], [n for n in variants if "torch" in n]):
        time.sleep(0.2)
        for _ in range(repeats):
            for name in group:
                times[name] += c.timings(variants[name], 1, warmup=0)
    # the graph ModelRunner runs (padding folded for older exports) must equal torch
    x4 = np.random.default_rng(1).standard_normal((4, 3, size, size)).astype(np.float32)
    got = runner.run(x4)
    with torch.inference_mode():
        want = [t.numpy() for t in model.forward_all(torch.from_numpy(x4))]
    error = max(float(np.abs(g - w).max() / (np.abs(w).max() + 1e-12))
                for g, w in zip((got.logits, got.features, got.imagenet_logits), want))
    rows = [(name, c.ms(c.median(t)), c.ms(min(t)), f"{c.median(t) / floor:.2f}") for name, t in times.items()]
    rows.append(("FLOP floor", c.ms(floor), c.ms(floor), "1.00"))
    table = c.table(("forward, batch 1", "median ms", "best ms", "x floor"), rows)
    production = c.median(times[next(iter(variants))])
    notes = [f"model FLOPs at {size}px: {flops / 1e9:.3f} GFLOP (= {flops / 2e9:.3f} G multiply-adds)",
             f"fp32 GEMM rate, {args.threads} threads: {gemm:.0f} GFLOP/s (best of repeats)",
             f"floor = {flops / 1e9:.3f} GFLOP / {gemm:.0f} GFLOP/s = {floor * 1e3:.2f} ms",
             f"against the issue's quiet-machine GEMM rate ({QUIET_GFLOPS:.0f} GFLOP/s): floor "
             f"{flops / QUIET_GFLOPS / 1e6:.2f} ms, ModelRunner at {production * QUIET_GFLOPS * 1e9 / flops:.2f}x it",
             f"ModelRunner (ONNX Runtime) vs eager torch, 4 random inputs: max relative error {error:.1e}"]
    targets = [c.target("forward batch 1 / FLOP floor", production / floor, "x", 1.5),
               c.target("ONNX Runtime output matches torch (max rel diff)", error, "", 1e-4)]
    return c.Report(TITLE, table, targets, notes)


def main(argv=None) -> c.Report:
    return c.main_for(TITLE, run, __doc__, argv)


if __name__ == "__main__":
    main()
