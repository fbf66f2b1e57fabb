"""Shared helpers for the CPU benchmarks in bench/: the header (machine, load, versions,
model), medians of repeats, one table per script, test photos.

Every script runs as `python bench/<name>.py [--quick] [--json out.json]` or
`python -m bench.<name>`. `--json` also writes the report (targets and named values) for
scripts/write_numbers.py, which fills the README's tables from it (bench/results/).
Timings on a shared machine are noisy: each number is a median of repeats and the
header records the load average, so a table says how busy the machine was.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/ first, not the repo root
    sys.path.insert(0, str(ROOT))

PHOTOS = ROOT.parent / "shared" / "photos"
DEFAULT_BUNDLE = ROOT / "data" / "models" / "current"
BIG_SIZE = (4000, 3000)  # a 12-megapixel phone photo
BIG_QUALITY = 90


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny repeats: checks the script runs, numbers mean little")
    p.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="model bundle (default data/models/current)")
    p.add_argument("--photos", type=Path, default=PHOTOS, help="folder of <class>/<photo> folders")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="compute threads (default: all cores)")
    p.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    return p


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def versions() -> str:
    parts = [f"python {platform.python_version()}"]
    for module in ("numpy", "PIL", "torch", "onnxruntime", "timm"):
        try:
            mod = __import__(module)
            parts.append(f"{module} {getattr(mod, '__version__', '?')}")
        except ImportError:
            parts.append(f"{module} missing")
    return ", ".join(parts)


def header(title: str, bundle: Path | None = None, extra: Iterable[str] = ()) -> str:
    lines = [f"## {title}", "",
             f"- date: {time.strftime('%Y-%m-%d %H:%M')}",
             f"- machine: {cpu_name()}, {os.cpu_count()} cores, {_mem_gib():.0f} GiB RAM",
             f"- load average (1/5/15 min) at start: {load_average()}",
             f"- versions: {versions()}"]
    if bundle is not None:
        try:
            from train.bundle import Bundle

            b = Bundle.load(bundle)
            lines.append(f"- model: {b.path.name} ({b.meta.arch}, {len(b.meta.labels)} classes, "
                         f"{b.meta.preprocessing.input_size}px, onnx={'yes' if b.onnx_path.exists() else 'no'})")
        except Exception as err:  # the header must never stop a benchmark
            lines.append(f"- model: {bundle} ({err})")
    lines.extend(f"- {e}" for e in extra)
    return "\n".join(lines)


def _mem_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return float("nan")


def timings(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Seconds per call, `warmup` calls discarded."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (pastes straight into bench/RESULTS.md)."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(columns[i]), *(len(r[i]) for r in rows)) if rows else len(columns[i])
              for i in range(len(columns))]
    fmt = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([fmt(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, rows)])


def photo_paths(root: Path = PHOTOS, limit: int | None = None) -> list[Path]:
    """All photos under <root>/<class>/ in a stable order (evenly thinned to `limit`)."""
    from species_data.images import is_image_name

    paths = sorted(p for p in Path(root).glob("*/*") if p.is_file() and is_image_name(p))
    if not paths:
        raise SystemExit(f"no photos under {root}; pass --photos <folder of class folders>")
    if limit is not None and limit < len(paths):
        step = len(paths) / limit
        paths = [paths[int(i * step)] for i in range(limit)]
    return paths


def make_big_jpeg(folder: Path | None = None, size: tuple[int, int] = BIG_SIZE, photos: Path = PHOTOS) -> Path:
    """A phone-size JPEG (default 4000x3000, quality 90) upscaled from a real photo into a tmp
    folder; photos never go into the repository."""
    from PIL import Image

    folder = Path(folder or tempfile.mkdtemp(prefix="bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"phone_{size[0]}x{size[1]}.jpg"
    if out.exists():
        return out
    # the largest landscape photo available, so the upscale has real detail in it
    candidates = photo_paths(photos)
    best = max(candidates[:: max(1, len(candidates) // 200)], key=lambda p: _area(p))
    with Image.open(best) as im:
        im = im.convert("RGB").resize(size, Image.Resampling.BICUBIC)
        im.save(out, "JPEG", quality=BIG_QUALITY)
    return out


def _area(path: Path) -> int:
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    return w * h if w >= h else 0


def gemm_gflops(threads: int, n: int = 4096, repeats: int = 5) -> float:
    """This machine's fp32 matrix-multiply rate (n x n @ n x n, torch, `threads` threads)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a = torch.randn(n, n)
        b = torch.randn(n, n)
        best = min(timings(lambda: a @ b, repeats, warmup=1))
    finally:
        torch.set_num_threads(old)
    return 2 * n**3 / best / 1e9


def emit(text: str) -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class Target:
    """One issue target: what was measured against what was asked."""

    name: str
    value: float
    unit: str
    goal: str  # e.g. "<= 20 ms"
    ok: bool | None  # None: not measured / not applicable


@dataclass
class Report:
    title: str
    table: str
    targets: list[Target]
    notes: list[str]
    values: dict[str, float] = field(default_factory=dict)  # named results for the README (scripts/write_numbers.py)
    extra: dict = field(default_factory=dict)  # a benchmark's own structured results, kept in its JSON as they are

    def to_json(self, quick: bool) -> dict:
        return {"title": self.title, "date": time.strftime("%Y-%m-%d %H:%M"), "quick": quick, "cpu": cpu_name(),
                "load_average": load_average(), "values": self.values,
                "targets": [asdict(t) for t in self.targets], "notes": self.notes, **self.extra}

    def text(self) -> str:
        parts = [f"### {self.title}", "", self.table]
        if self.notes:
            parts += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(parts)


def target(name: str, value: float, unit: str, limit: float, smaller_is_better: bool = True) -> Target:
    goal = f"{'<=' if smaller_is_better else '>='} {limit:g} {unit}"
    ok = value <= limit if smaller_is_better else value >= limit
    return Target(name, value, unit, goal, ok)


def targets_table(targets: Iterable[Target]) -> str:
    return table(("target", "measured", "goal", "verdict"),
                 [(t.name, "n/a" if t.ok is None else f"{t.value:.3g} {t.unit}", t.goal,
                   "n/a" if t.ok is None else ("meets" if t.ok else "MISSES")) for t in targets])


def main_for(title: str, run: Callable[[argparse.Namespace], Report], description: str, argv=None,
             extra_args: Callable[[argparse.ArgumentParser], None] | None = None) -> Report:
    """The `main` every script shares: parse, print the header, run, print the tables."""
    p = parser(description)
    if extra_args:
        extra_args(p)
    args = p.parse_args(argv)
    emit(header(title, args.bundle))
    emit("")
    report = run(args)
    emit(report.text())
    if report.targets:
        emit("")
        emit(targets_table(report.targets))
    emit("\nTimings on a shared machine are noisy; the lead re-runs `python bench/run_all.py` on a quiet one.")
    write_json(report, args)
    return report


def write_json(report: Report, args: argparse.Namespace) -> None:
    """The report as JSON at `args.json`, when asked for (`--json`)."""
    if getattr(args, "json", None):
        import json

        from species_data.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(report.to_json(args.quick), indent=1) + "\n")
