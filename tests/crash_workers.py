"""Small programs that `tests/test_crash.py` runs as subprocesses and kills with SIGKILL.

    python -m tests.crash_workers <scenario> <args...>

Every worker loops over one kind of write and prints `ack <value> end` (flushed) after
the write has *returned* — the moment the app would tell the officer "saved". A kill can
cut a line short, so only complete lines count as acknowledgements (`parse_acks`).

Scenarios: photos, cases, catalogue, publish, save_bundle (see each function).

Crash points: with CRASH_AT=k in the environment the worker SIGKILLs itself just before
the k-th file-system step (rename, atomic swap, symlink, tree delete) taken by the module
under test (species_data.photo_store, species_data.catalogue_write, train.bundle), so a chosen gap
between two steps is hit every time, not only when a random delay happens to land there.
A save_bundle worker that gets past its last step prints `done`. CRASH_NO_EXCHANGE=1
forces the portable two-rename path `save_bundle` takes where no atomic swap exists.
"""
from __future__ import annotations

import dataclasses
import io
import itertools
import json
import os
import re
import shutil
import signal
import sys
import types
from pathlib import Path

ACK = re.compile(r"^ack (\S+) end$")


def parse_acks(text: str) -> list[str]:
    """The acknowledged values, in order; a line cut short by the kill does not count."""
    return [m.group(1) for line in text.splitlines() if (m := ACK.match(line))]


def ack(value: object) -> None:
    sys.stdout.write(f"ack {value} end\n")
    sys.stdout.flush()


# --- (1) photo upload: PhotoStore.put then Store.add_photo, as the trainer tab does --------

def make_image(i: int) -> bytes:
    """A distinct image per i, alternately JPEG and PNG, 16 KB to ~1 MB (bigger = longer write)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(i)
    side = (64, 256, 512)[i % 3]
    pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG" if i % 2 else "PNG", **({"quality": 95} if i % 2 else {}))
    return buf.getvalue()


def photos(root: str, url: str, start: str) -> None:
    import species_data.atomic
    from species_data.photo_store import PhotoStore, sniff_ext
    from serve.records.store import Store

    arm_crash_point(species_data.atomic)  # the store writes through the one atomic-write helper
    store, db = PhotoStore(Path(root)), Store.open(url)
    for i in itertools.count(int(start)):
        data = make_image(i)
        sha = store.put(data, sniff_ext(data))
        db.add_photo(sha256=sha, class_id="tiger", ext=sniff_ext(data), width=8, height=8,
                     phash=f"{i:016x}", uploader="crash-test", source="crash", licence="CC0")
        ack(sha)


# --- (4) case records --------------------------------------------------------------------

def cases(url: str) -> None:
    from serve.records.store import Store

    db = Store.open(url, bcrypt_rounds=4)
    if db.get_user("ana") is None:
        db.add_user("ana", "officer", "correct horse battery")
    for i in itertools.count():
        case = db.add_case(officer="ana", action="referred", label="tiger", decision="identified",
                           prediction={"tiger": 0.9, "i": i}, model_version="v1", note=f"crash {i}")
        ack(case.id)


# --- (5) catalogue edits -------------------------------------------------------------------

EDIT_CUE = "Crash-test edit number {}."


def catalogue(overlay: str, entry_id: str, start: str = "0") -> None:
    import species_data.atomic
    from species_data import entry_to_mapping, load_catalogue, save_entry

    arm_crash_point(species_data.atomic)  # entries are written through the one atomic-write helper
    base = entry_to_mapping(load_catalogue()[entry_id])
    for i in itertools.count(int(start)):
        mapping = json.loads(json.dumps(base))
        mapping["cues"]["en"] = mapping["cues"]["en"] + [EDIT_CUE.format(i)]
        save_entry(mapping, overlay, "crash-test")
        ack(i)


# --- (3) publishing and writing bundles ------------------------------------------------------

def publish(models: str, versions: str) -> None:
    from train.bundle import publish as publish_version

    names = versions.split(",")
    for i in itertools.count():
        publish_version(Path(models), names[i % len(names)])
        ack(names[i % len(names)])


class _Arrays:
    def __init__(self, arrays: dict) -> None:
        self._arrays = arrays

    def arrays(self) -> dict:
        return self._arrays


def arm_crash_point(module: types.ModuleType) -> None:
    """If CRASH_AT=k is set: SIGKILL this process just before the k-th file-system step
    that `module` itself takes (its own `os` and `shutil` calls; nothing else is touched)."""
    if os.environ.get("CRASH_AT"):
        _arm_crash_point(module, int(os.environ["CRASH_AT"]))


def _arm_crash_point(module: types.ModuleType, k: int) -> None:
    counter = itertools.count(1)

    def step(fn):
        def wrapped(*args, **kwargs):
            if next(counter) == k:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)
        return wrapped

    class Os(types.ModuleType):  # the module's own view of `os`
        def __getattr__(self, name):
            return getattr(os, name)

    class Shutil(types.ModuleType):
        def __getattr__(self, name):
            return getattr(shutil, name)

    module.os = Os("os")
    for name in ("replace", "rename", "symlink"):
        setattr(module.os, name, step(getattr(os, name)))
    if hasattr(module, "shutil"):
        module.shutil = Shutil("shutil")
        module.shutil.rmtree = step(shutil.rmtree)
    if hasattr(module, "_exchange"):  # train.bundle's atomic swap
        module._exchange = step(module._exchange)


def save_bundle(models: str, out_name: str, source: str, loops: str = "0") -> None:
    """Write bundle `out_name` again and again from the files of `source` (0 loops: forever).
    Each save carries a marker in bundle.json and in marker.txt, so a folder mixing two
    saves is visible."""
    import numpy as np

    import train.bundle as tb
    from train.weights import StateDict, load_arrays, weights_file

    if os.environ.get("CRASH_NO_EXCHANGE") and hasattr(tb, "_exchange"):
        tb._exchange = lambda a, b: False
    arm_crash_point(tb)
    src = Path(source)
    meta = tb.Bundle.load(src).meta
    with np.load(src / "ood.npz") as z:
        ref = _Arrays({k: z[k] for k in z.files})
    extra = {p.name: p for p in src.iterdir() if p.is_file()
             and p.name not in ("bundle.json", weights_file(src).name, "ood.npz", "marker.txt")}
    weights = StateDict(load_arrays(weights_file(src)))  # written again by each save
    scratch = Path(models).parent / f"scratch-{os.getpid()}"  # outside the models folder
    scratch.mkdir()
    for i in itertools.count(1):
        marker = f"{os.getpid()}-{i}"
        (scratch / "marker.txt").write_text(marker)
        meta.version = out_name
        meta.training = dataclasses.replace(meta.training, details={**meta.training.details, "crash_marker": marker})
        tb.save_bundle(Path(models) / out_name, meta, weights, ref,
                       extra_files={**extra, "marker.txt": scratch / "marker.txt"}, export_onnx=False)
        ack(marker)
        if i == int(loops):
            break
    print("done", flush=True)


SCENARIOS = {f.__name__: f for f in (photos, cases, catalogue, publish, save_bundle)}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]](*sys.argv[2:])
