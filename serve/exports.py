"""Export files (case lists, identification results, quiz summaries, cohort reports):
short-lived, and served only to the user they were made for.

Why: an export holds case data. Gradio serves every file a handler returns from its cache
to any signed-in user who has the URL (a shared screen, a browser history, a log line is
enough). So each export gets an unguessable name, is registered with its owner and an
expiry, and `serve.http_guard` answers 404 to anyone else who asks for it, and to
everyone once it has expired. Expired files are deleted from our folder and from
Gradio's cache.

    exports = Exports()
    path = exports.write("olga", "cases", "csv", text)      # -> handler returns `path`
    exports.may_read("olga", Path(path).name)               # -> True (for ten minutes)

What remains (Gradio's limits): the copy in Gradio's cache is a plain file readable by the
server's own operating-system account until it expires; a user may forward the file once
downloaded; the browser may keep its own copy.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

EXPORT_KEEP_S = 600
# stem-YYYYmmdd-HHMMSS-<32 hex>.suffix: the random part makes the URL unguessable.
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,40}-\d{8}-\d{6}-[0-9a-f]{32}\.[a-z0-9]{1,8}$")


@dataclass(frozen=True)
class Export:
    owner: str
    expires: float  # time.time() after which nobody may read it


class Exports:
    """The registry of export files of this process (thread-safe)."""

    def __init__(self, keep_s: float = EXPORT_KEEP_S, folder: Path | None = None,
                 gradio_cache: Path | None = None, clock=time.time) -> None:
        self.keep_s = keep_s
        self._folder = folder
        self._gradio_cache = gradio_cache
        self._clock = clock
        self._items: dict[str, Export] = {}
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        if self._folder is None or not self._folder.is_dir():
            self._folder = Path(tempfile.mkdtemp(prefix="wildlife-exports-"))  # mode 0700
        return self._folder

    def write(self, owner: str, stem: str, suffix: str, text: str | bytes) -> str:
        """Write `text` (UTF-8) or bytes (a figure) to a fresh owner-only file; returns its
        path for the handler to return."""
        if not owner:
            raise ValueError("an export needs an owner (the signed-in user's name)")
        self.sweep()
        name = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(16)}.{suffix}"
        if not NAME_RE.match(name):
            raise ValueError(f"export name {name!r} is not of the form stem-date-time-hex.suffix; "
                             "use a lower-case stem and suffix")
        path = self.folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        if isinstance(text, bytes):
            with os.fdopen(fd, "wb") as fh:
                fh.write(text)
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        with self._lock:
            self._items[name] = Export(owner, self._clock() + self.keep_s)
        return str(path)

    @staticmethod
    def is_export_name(name: str) -> bool:
        return bool(NAME_RE.match(name))

    def may_read(self, user: str | None, name: str) -> bool:
        """True when `name` is an export of `user` that has not expired."""
        with self._lock:
            item = self._items.get(name)
        return (item is not None and user is not None and item.owner == user
                and self._clock() < item.expires)

    def sweep(self) -> None:
        """Forget expired exports and delete their files (ours and Gradio's cached copies)."""
        now = self._clock()
        with self._lock:
            expired = [name for name, item in self._items.items() if item.expires <= now]
            for name in expired:
                del self._items[name]
        for name in expired:
            with contextlib.suppress(OSError):
                (self.folder / name).unlink()
            cache = self._gradio_cache or Path(os.environ.get("GRADIO_TEMP_DIR")
                                               or Path(tempfile.gettempdir()) / "gradio")
            for copy in cache.glob(f"*/{name}"):
                with contextlib.suppress(OSError):
                    copy.unlink()
