"""One way to write a file so that readers see the old content or the new, never half.

Why: photos, catalogue entries, model cards, caches, job states and batch results are
all read while they may be rewritten, and a crash (or SIGKILL) can come at any moment.
Every writer goes through `atomic_write`: a temporary file in the same folder, flushed
and fsync'd, renamed over the target (`os.replace`, atomic on POSIX and Windows), then
the folder fsync'd so the rename itself survives a power cut. A failure removes the
temporary file. Caches that can be rebuilt may skip the fsyncs (`durable=False`).

    with atomic_write(path, "wb") as fh:    # any writer: np.save(fh, x), torch.save(x, fh)...
        fh.write(data)
    write_text_atomic(path, text)           # the common cases
    write_bytes_atomic(path, data)
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

DEFAULT_MODE = 0o644  # a new file is readable by the web server and other users, like a plain write


def fsync_dir(folder: Path | str) -> None:
    """Make a rename or a new file in `folder` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: Path | str, mode: str = "wb", *, encoding: str | None = None, newline: str | None = None,
                 durable: bool = True, prefix: str | None = None, suffix: str = ".tmp",
                 file_mode: int | None = None) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; on a clean exit it replaces `path`.

    durable: fsync the file and its folder (skip only for caches that can be rebuilt).
    prefix/suffix: the temporary file's name (a store that sweeps leftovers names them).
    file_mode: permissions of the result (default: the old file's, else 0o644)."""
    if "w" not in mode:
        raise ValueError(f"atomic_write opens files for writing; mode {mode!r} has no 'w'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix if prefix is not None else f".{path.name}.", suffix=suffix,
                               dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        if file_mode is None:
            file_mode = path.stat().st_mode & 0o777 if path.exists() else DEFAULT_MODE
        os.chmod(tmp, file_mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def write_text_atomic(path: Path | str, text: str, encoding: str = "utf-8", newline: str | None = "\n",
                      durable: bool = True) -> Path:
    """`path` holds `text` afterwards, all of it or (after a crash) the old content."""
    with atomic_write(path, "w", encoding=encoding, newline=newline, durable=durable) as fh:
        fh.write(text)
    return Path(path)


def write_bytes_atomic(path: Path | str, data: bytes, durable: bool = True) -> Path:
    with atomic_write(path, "wb", durable=durable) as fh:
        fh.write(data)
    return Path(path)
