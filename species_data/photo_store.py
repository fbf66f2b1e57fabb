"""Photo files, stored once each under the SHA-256 of their bytes.

    store = PhotoStore(Path("data/photos"))
    sha = store.put(upload_bytes)          # -> data/photos/ab/ab12...ef.jpg
    with store.open(sha) as f: ...

* Names come from the content, never from the uploaded filename: the file extension is
  read from the image's leading bytes (JPEG, PNG, WebP, GIF, BMP, TIFF); a declared
  extension that disagrees is refused.
* Writes go to a temporary file in the same folder, are fsync'd, then renamed over the
  final name (`os.replace`), and the folder is fsync'd: after a crash or SIGKILL a photo
  is either complete or absent. A kill mid-write can leave a `.tmp-*` file, which
  `sweep_temp` removes (the constructor sweeps ones older than an hour).
* `put` is idempotent: the same bytes give the same name and are written once.
* Only 64-hex-digit names are accepted and every path is checked to stay inside `root`
  after resolving symlinks.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path
from typing import BinaryIO

from .atomic import atomic_write, fsync_dir

DEFAULT_MAX_BYTES = 40 * 1024 * 1024
TEMP_PREFIX = ".tmp-"

EXTENSIONS = ("jpg", "png", "webp", "gif", "bmp", "tiff")
_ALIASES = {"jpeg": "jpg", "jpe": "jpg", "tif": "tiff"}
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class UnsafePath(ValueError):
    """A name or path that would reach outside the photo store."""


def sniff_ext(data: bytes) -> str | None:
    """The image format from its first bytes, as one of EXTENSIONS; None if unknown."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:2] == b"BM" and len(data) >= 26:
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def normalise_ext(ext: str) -> str:
    e = str(ext).strip().lower().lstrip(".")
    e = _ALIASES.get(e, e)
    if e not in EXTENSIONS:
        raise ValueError(f"file type {ext!r} is not accepted; use one of {', '.join(EXTENSIONS)}")
    return e


class PhotoStore:
    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._real_root = self.root.resolve()
        self.max_bytes = max_bytes
        self.sweep_temp(older_than_s=3600)

    # --- naming -----------------------------------------------------------------------

    def _check_sha(self, sha: str) -> str:
        s = sha.lower() if isinstance(sha, str) else sha
        if not isinstance(s, str) or not _SHA256_RE.match(s):
            raise UnsafePath(f"{sha!r} is not a photo name (64 hex characters of SHA-256)")
        return s

    def _inside(self, path: Path) -> Path:
        if not path.resolve().is_relative_to(self._real_root):
            raise UnsafePath(f"{path} resolves outside the photo store {self._real_root}; "
                             "remove the symlink")
        return path

    def _candidate(self, sha: str, ext: str) -> Path:
        return self._inside(self.root / sha[:2] / f"{sha}.{ext}")

    # --- reading ----------------------------------------------------------------------

    def find(self, sha: str) -> Path | None:
        """The photo's path, or None if it is not stored."""
        sha = self._check_sha(sha)
        for ext in EXTENSIONS:
            p = self._candidate(sha, ext)
            if p.is_file():
                return p
        return None

    def path(self, sha: str) -> Path:
        sha = self._check_sha(sha)
        p = self.find(sha)
        if p is None:
            raise FileNotFoundError(f"photo {sha} is not in {self.root}")
        return p

    def exists(self, sha: str) -> bool:
        return self.find(sha) is not None

    __contains__ = exists

    def open(self, sha: str) -> BinaryIO:
        return self.path(sha).open("rb")

    def verify(self, sha: str) -> bool:
        """True if the stored bytes still hash to their name."""
        return hashlib.sha256(self.path(sha).read_bytes()).hexdigest() == self._check_sha(sha)

    # --- writing ----------------------------------------------------------------------

    def put(self, data: bytes, ext: str | None = None) -> str:
        """Store the bytes once; return their SHA-256 (hex). `ext`, if given, must match
        the image format found in the bytes."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"photo data must be bytes, not {type(data).__name__}")
        data = bytes(data)
        if not data:
            raise ValueError("photo is empty (0 bytes)")
        if len(data) > self.max_bytes:
            raise ValueError(f"photo is {len(data) / 2**20:.1f} MiB; the limit is "
                             f"{self.max_bytes / 2**20:.0f} MiB — resize it first")
        found = sniff_ext(data)
        if found is None:
            raise ValueError("not a recognised image; accepted formats: "
                             + ", ".join(EXTENSIONS))
        if ext is not None and normalise_ext(ext) != found:
            raise ValueError(f"file claims to be {ext!r} but its content is {found}; "
                             "re-export it, or let the store detect the type (ext=None)")
        sha = hashlib.sha256(data).hexdigest()
        if self.find(sha) is not None:
            return sha
        final = self._candidate(sha, found)
        folder = final.parent
        new_folder = not folder.exists()
        folder.mkdir(exist_ok=True)
        self._inside(folder)
        with atomic_write(final, "wb", prefix=TEMP_PREFIX, suffix=".part") as f:  # leftovers: sweep_temp
            f.write(data)
        if new_folder:
            fsync_dir(self.root)
        return sha

    def sweep_temp(self, older_than_s: float = 0.0) -> int:
        """Delete temporary files left by interrupted writes; returns how many."""
        cutoff, removed = time.time() - older_than_s, 0
        for p in self.root.glob(f"??/{TEMP_PREFIX}*"):
            try:
                if p.stat().st_mtime <= cutoff:
                    p.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed
