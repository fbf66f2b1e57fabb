"""Memory and start-up of the real app: `python -m serve` as an officer uses it.

Starts the app as its own process (`bench/load_app.Server`: a temporary data folder whose
models/current is the bundle, an officer account made beforehand), times launch -> first
HTTP 200 on its page (serving), then drives Debian's Chromium through Playwright as the
officer: sign in, then N identifications of different real photos, each waiting for its
heat map on the Identify tab. Reads the app process's resident memory from
/proc/<pid>/status (VmRSS now, VmHWM the peak) after the first identification (warm-up)
and at the end, and whether torch was ever loaded into it (/proc/<pid>/maps names
libtorch once `import torch` ran).

Targets (issue 15): peak resident memory <= 600 MB after warm-up and 30 identifications
with heat maps; serving within 10 s of launch.

Run: python bench/serving_memory.py [--quick] [--identifications 30] [--json out.json]
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

try:
    from . import common as c
    from .load_app import Server, password
    from .load_test import officer_photos
except ImportError:  # run as a file
    import common as c  # type: ignore[no-redef]
    from load_app import Server, password  # type: ignore[no-redef]
    from load_test import officer_photos  # type: ignore[no-redef]

TITLE = "Serving process memory (the real app)"
OFFICER = "mem-officer"
LIMIT_MB = 600
MB_PER_MIB = 2**20 / 1e6
START_LIMIT_S = 10.0
SLOW_MS = 120_000


def _status(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _torch_loaded(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


HEAT_SRC = ("(label) => { const blocks = [...document.querySelectorAll('div.block')]"
            ".filter(b => b.innerText.includes(label)); const img = blocks.length && "
            "blocks[blocks.length - 1].querySelector('img'); return img ? img.src : null; }")


def _identify(page, url: str, photo: Path, t) -> None:
    """A fresh Identify page (the upload box holds one photo), upload, press Identify, wait
    until the heat map of this photo is shown."""
    label = t("app.identify.heatmap.label")
    page.goto(url)
    page.get_by_role("tab", name=t("app.tab.identify"), exact=True).wait_for()
    before = page.evaluate(HEAT_SRC, label)
    page.locator("input[type=file][multiple]").set_input_files(str(photo))
    page.get_by_text(photo.stem).first.wait_for()
    page.get_by_role("button", name=t("app.identify.run"), exact=True).click()
    page.wait_for_function(f"([label, before]) => {{ const src = ({HEAT_SRC})(label); "
                           "return src && src !== before; }", arg=[label, before], timeout=SLOW_MS)


def measure(bundle: Path, photos_root: Path, n: int) -> dict:
    from playwright.sync_api import sync_playwright

    from serve.i18n import t
    from tests.browser_helpers import CHROMIUM, LAUNCH_ARGS, VIEWPORT

    photos = officer_photos(photos_root)
    photos = [photos[i * len(photos) // n] for i in range(n)]  # spread over the classes
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as work:
        server = Server.fresh(bundle, photos_root, {OFFICER: "officer"}, Path(work))
        started = time.perf_counter()
        server.start()
        serving_s = time.perf_counter() - started
        pid = server.proc.pid
        out = {"serving_s": serving_s, "rss_started": _status(pid, "VmRSS")}
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(server.url)
                page.get_by_label(t("gradio.login.username"), exact=True).fill(OFFICER)
                page.get_by_label(t("gradio.login.password"), exact=True).fill(password(OFFICER))
                page.get_by_role("button", name=t("gradio.login.login"), exact=True).click()
                page.get_by_role("tab", name=t("app.tab.identify"), exact=True).wait_for()
                timings = []
                for i, photo in enumerate(photos):
                    t0 = time.perf_counter()
                    _identify(page, server.url, photo, t)
                    timings.append(time.perf_counter() - t0)
                    if i == 0:
                        out["rss_warm"] = _status(pid, "VmRSS")
                browser.close()
            out.update(rss_end=_status(pid, "VmRSS"), peak=_status(pid, "VmHWM"), torch=_torch_loaded(pid),
                       n=len(photos), seconds_per_identification=c.median(timings))
        finally:
            server.stop()
    return out


def run(args) -> c.Report:
    n = 3 if args.quick else args.identifications
    m = measure(Path(args.bundle).resolve(), args.photos, n)
    rows = [("launch -> serving (first HTTP 200)", f"{m['serving_s']:.1f} s"),
            ("resident after start", f"{m['rss_started']:.0f} MiB"),
            ("resident after warm-up (sign-in, first identification + heat map)", f"{m['rss_warm']:.0f} MiB"),
            (f"resident after {m['n']} identifications with heat maps", f"{m['rss_end']:.0f} MiB"),
            ("peak resident (VmHWM)", f"{m['peak']:.0f} MiB ({m['peak'] * MB_PER_MIB:.0f} MB)"),
            ("torch loaded into the app", "yes" if m["torch"] else "no"),
            ("browser round trip per identification + heat map, median", f"{m['seconds_per_identification']:.1f} s")]
    table = c.table(("the app process (python -m serve)", "measured"), rows)
    notes = ["the app runs as its own process, driven by Chromium as an officer would; memory is that process's "
             "own (/proc/<pid>/status), the browser's is not counted",
             "heat maps are class activation maps from the ONNX model's last feature map (no torch)"]
    values = {"serving_s": m["serving_s"], "peak_mib": m["peak"], "rss_warm_mib": m["rss_warm"],
              "rss_end_mib": m["rss_end"], "identifications": m["n"], "torch_loaded": float(m["torch"])}
    targets = [c.target("serving process peak resident memory", m["peak"] * MB_PER_MIB, "MB", LIMIT_MB),
               c.target("launch to serving", m["serving_s"], "s", START_LIMIT_S)]
    return c.Report(TITLE, table, targets, notes, values)


def _extra(p) -> None:
    p.add_argument("--identifications", type=int, default=30)


def main(argv=None) -> c.Report:
    return c.main_for(TITLE, run, __doc__, argv, _extra)


if __name__ == "__main__":
    main()
