"""The model bundle: one folder that carries everything needed to use a model.

    models/<version>/
        bundle.json   `train.bundle_meta.BundleMeta`: architecture, labels, preprocessing,
                      temperature, thresholds, out-of-catalogue method, groups and the
                      catalogue snapshot, typed metrics (with the validation confusion
                      matrix), the training record and config, data manifest hash,
                      per-class counts and sources
        weights.safetensors  state dict of `SpeciesClassifier` (older bundles: weights.pt)
        ood.npz       reference features for distance-based out-of-catalogue scores
        manifest.json the photos (content hash, label, split, path) it was fitted on
        model.onnx    the same network exported for ONNX Runtime (serving fast path)
        *.png         confusion matrix and reliability diagram

A bundle is written to a temporary sibling folder and renamed into place, so a
crash never leaves a half-written bundle; `publish` switches `models/current`
with an atomic rename of a symlink. Writing over an existing version (e.g. the
published one) swaps the two folders in one step on Linux (renameat2
RENAME_EXCHANGE); elsewhere it takes two renames, and a crash between them is
undone the next time that version is loaded or listed (`_restore_interrupted`).
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from species_data.atomic import fsync_dir as _fsync_dir

from .bundle_meta import FORMAT_VERSION, BundleMeta
from .decision_rule import Thresholds
from .weights import FILE as WEIGHTS_FILE
from .weights import load_tensors, save_weights, weights_file

__all__ = ["CURRENT", "FORMAT_VERSION", "Bundle", "BundleMeta", "Thresholds", "current", "list_versions", "publish",
           "save_bundle"]

CURRENT = "current"


@dataclass
class Bundle:
    path: Path
    meta: BundleMeta

    @property
    def onnx_path(self) -> Path:
        return self.path / "model.onnx"

    @classmethod
    def load(cls, path: Path | str) -> "Bundle":
        path = Path(path).resolve()
        meta_file = path / "bundle.json"
        if not meta_file.exists():
            _restore_interrupted(path)
        if not meta_file.exists():
            raise FileNotFoundError(f"{path} is not a model bundle (no bundle.json); train one with `python -m train fit`")
        return cls(path, BundleMeta.from_dict(json.loads(meta_file.read_text())))

    def manifest(self) -> list[dict]:
        path = self.path / "manifest.json"
        return json.loads(path.read_text()) if path.exists() else []

    @property
    def weights_path(self) -> Path:
        return weights_file(self.path)

    def state_dict(self) -> dict:
        """The network's weights as CPU torch tensors (imports torch)."""
        return load_tensors(self.weights_path)

    def build_model(self):
        """The torch model with the bundle's weights (imports torch lazily)."""
        from .model import SpeciesClassifier

        model = SpeciesClassifier(self.meta.arch, len(self.meta.labels))
        model.load_state_dict(self.state_dict(), strict=True)
        return model.eval()

    def ood_reference(self):
        from .ood import OodReference

        with np.load(self.path / "ood.npz") as arrays:
            return OodReference.from_arrays(arrays)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where the
    system or file system cannot, so the caller falls back to two renames."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # glibc < 2.28, musl without it
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would stop the process there; restoring during a
        return False  # live save only makes that save fail, the old bundle stays whole
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _restore_interrupted(out: Path) -> bool:
    """Put back the old bundle a crash left at `.<name>-old-<pid>` between the two renames of
    `save_bundle` (only where no atomic swap exists); True if `out` was restored."""
    out = Path(out)
    if out.exists() or not out.parent.is_dir():
        return False
    for old in sorted(out.parent.iterdir()):
        pid = re.fullmatch(rf"\.{re.escape(out.name)}-old-(\d+)", old.name)
        if not pid or _pid_alive(int(pid.group(1))) or not (old / "bundle.json").is_file():
            continue  # a save still in progress (its pid is alive), or not a bundle
        try:
            os.replace(old, out)
        except OSError:
            return out.exists()
        _fsync_dir(out.parent)
        return True
    return False


def save_bundle(out: Path, meta: BundleMeta, model, ood_ref, extra_files: dict[str, Path] | None = None,
                export_onnx: bool = True) -> Bundle:
    """Write the bundle to a temporary sibling, then rename it to `out` (replacing an old one).
    `model`: anything with a `state_dict()`; a torch network is needed only to export ONNX."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    os.chmod(tmp, 0o755)
    try:
        save_weights(model.state_dict(), tmp / WEIGHTS_FILE)
        np.savez(tmp / "ood.npz", **ood_ref.arrays())
        for name, src in (extra_files or {}).items():
            shutil.copy2(src, tmp / name)
        if export_onnx:
            from .export import export_onnx as _export

            _export(model, meta.preprocessing.input_size, tmp / "model.onnx")
        (tmp / "bundle.json").write_text(json.dumps(meta.to_dict(), indent=1))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        _restore_interrupted(out)
        if not out.exists():
            os.replace(tmp, out)
        elif not _exchange(tmp, out):  # swapped: the old bundle is now `tmp`, removed below
            # No atomic swap here: a crash between these renames leaves `out` missing and the
            # old bundle at `old`, which `_restore_interrupted` puts back.
            old = out.with_name(f".{out.name}-old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(out.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Bundle.load(out)


def publish(models_dir: Path, version: str) -> Path:
    """Point `models/current` at `version` atomically; returns the link."""
    models_dir = Path(models_dir)
    target = models_dir / version
    Bundle.load(target)  # refuse to publish something that does not load
    link = models_dir / CURRENT
    tmp = models_dir / f".{CURRENT}-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(version, tmp)
    os.replace(tmp, link)
    _fsync_dir(models_dir)
    return link


def current(models_dir: Path) -> Bundle | None:
    link = Path(models_dir) / CURRENT
    if link.is_symlink() and not link.exists():
        _restore_interrupted(link.resolve())
    return Bundle.load(link) if link.exists() else None


def list_versions(models_dir: Path) -> list[BundleMeta]:
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    for p in models_dir.glob(".*-old-*"):  # a save_bundle interrupted between two renames
        if m := re.fullmatch(r"\.(.+)-old-\d+", p.name):
            _restore_interrupted(models_dir / m.group(1))
    metas = []
    for p in sorted(models_dir.iterdir()):
        if p.name.startswith(".") or p.name == CURRENT or not (p / "bundle.json").exists():
            continue
        metas.append(Bundle.load(p).meta)
    return sorted(metas, key=lambda m: m.created_at)
