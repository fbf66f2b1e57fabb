"""Photos out of a zip archive, without trusting the archive.

    from species_data.zipimport import iter_zip_images, read_zip_images, ZipImportError

    for name, data in iter_zip_images(Path("seizure.zip"), on_skip=lambda n, why: print(n, why)):
        ...                                   # data: the member's bytes, for decode_image

    contents = read_zip_images(upload_bytes)  # everything at once: .images, .skipped

What is refused (`ZipImportError`, naming the archive, the member and the reason; the
whole archive is refused because such an archive is broken or hostile):
  * not a readable zip (random bytes, truncated download);
  * more than `max_files` entries (a zip of thousands of tiny files);
  * a member path that is absolute, has a drive letter or a `..` part (path traversal);
  * a symbolic link; an encrypted (password-protected) member;
  * a zip bomb: a photo member declaring more than `max_member_bytes`, photo members
    declaring more than `max_total_bytes` together, or a compression ratio above
    `max_ratio` (checked for members over `RATIO_FLOOR`, since a tiny text file may
    legitimately compress 100x). The header is not trusted: members are read through
    a bounded reader, and the limits are checked again on the bytes actually read.

What is skipped (reported through `on_skip(name, reason)`, never silently):
  * members that are not photos (by extension and by their first bytes);
  * archives inside the archive (nested zips are not opened);
  * macOS metadata (`__MACOSX/`, `._name`);
  * a damaged member (CRC mismatch, unsupported compression): the rest still come out.

Directory entries are neither yielded nor reported. Refusals of the bytes-read kind
can happen mid-iteration, after earlier members were yielded. Nothing is written to
disk: names are for display only, made safe (no control characters, no `..`).
"""
from __future__ import annotations

import io
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from .images import IMAGE_EXTENSIONS, MAX_BYTES

MiB = 2**20
MAX_FILES = 500
MAX_TOTAL_BYTES = 256 * MiB
MAX_RATIO = 100
MAX_MEMBER_BYTES = MAX_BYTES  # the decoder refuses larger files anyway
RATIO_FLOOR = 1 * MiB  # the ratio limit applies to members larger than this
_CHUNK = 1 * MiB
_SNIFF = 16

ARCHIVE_EXTENSIONS = (".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".cbz", ".jar")
_IMAGE_MAGIC = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a", b"GIF89a",
    b"BM",
    b"II*\x00", b"MM\x00*",  # TIFF
)
_OS_FILES = (".DS_Store", "Thumbs.db", "desktop.ini")
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"7z\xbc\xaf\x27\x1c", b"Rar!", b"\x1f\x8b", b"BZh", b"\xfd7zXZ")

SkipCallback = Callable[[str, str], None]
NESTED = "an archive inside the archive is not opened; unpack it and add its photos directly"


class ZipImportError(ValueError):
    """An archive refused as a whole; `reason` is a short phrase for people."""

    def __init__(self, archive: str, reason: str, member: str | None = None):
        """`member`: the offending member's name as stored in the archive (None: the archive itself)."""
        super().__init__(f"{archive}: {reason}")
        self.archive = archive
        self.reason = reason
        self.member = member


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass(frozen=True)
class ZipContents:
    images: tuple[tuple[str, bytes], ...]
    skipped: tuple[Skipped, ...]


ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive's end record


def is_zip(source: bytes | str | Path) -> bool:
    """Whether to read `source` as a zip archive: the one test for it everywhere.

    Bytes: they start with a zip signature. A file: its first bytes do, or its name ends
    in `.zip` (so a damaged archive is refused with a reason, not decoded as a photo).
    Only regular files are opened (never a pipe or a device)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:4]).startswith(ZIP_MAGIC)
    path = Path(source)
    if path.suffix.lower() == ".zip":
        return True
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return False
        with open(path, "rb") as fh:
            return fh.read(4).startswith(ZIP_MAGIC)
    except OSError:
        return False


def safe_name(name: str) -> str:
    """A member name fit for display: '/' separators, no control characters, no '..'."""
    name = name.replace("\\", "/")
    name = re.sub(r"[\x00-\x1f\x7f]", "?", name)
    name = re.sub(r"\.{2,}", ".", name)
    name = re.sub(r"/{2,}", "/", name).lstrip("/")
    return name or "(unnamed)"


def _unsafe_path(name: str) -> bool:
    if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return True
    return any(part == ".." for part in re.split(r"[\\/]", name))


def _mb(n: int) -> str:
    return f"{n / MiB:.1f} MB" if n < 10 * MiB else f"{n / MiB:.0f} MB"


def _classify(info: zipfile.ZipInfo) -> str | None:
    """'image', 'sniff' (decide from the first bytes) or a skip reason."""
    path = PurePosixPath(info.filename.replace("\\", "/"))
    if "__MACOSX" in path.parts or path.name.startswith("._") or path.name in _OS_FILES:
        return "operating-system metadata, not a photo"
    suffix = path.suffix.lower()
    if suffix in ARCHIVE_EXTENSIONS:
        return NESTED
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    return "sniff"


def _bounded_read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """At most `limit` + 1 bytes of a member, whatever its header declares."""
    parts, total = [], 0
    with zf.open(info) as fh:
        while total <= limit:
            chunk = fh.read(min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
    return b"".join(parts)


def _open(data: bytes | str | Path, label: str) -> zipfile.ZipFile:
    try:
        if isinstance(data, (bytes, bytearray, memoryview)):
            return zipfile.ZipFile(io.BytesIO(bytes(data)))
        path = Path(data)
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise ZipImportError(label, "is not a regular file; pass a .zip file")
        return zipfile.ZipFile(path)
    except ZipImportError:
        raise
    except OSError as err:
        raise ZipImportError(label, f"cannot be read ({err.strerror or err})") from None
    except Exception as err:  # noqa: BLE001 - zipfile raises many types on hostile bytes
        raise ZipImportError(label, f"is not a readable zip archive ({err or type(err).__name__}); "
                                    "re-create it with a standard zip tool") from None


def iter_zip_images(
    data: bytes | str | Path,
    *,
    max_files: int = MAX_FILES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_ratio: float = MAX_RATIO,
    max_member_bytes: int = MAX_MEMBER_BYTES,
    on_skip: SkipCallback | None = None,
    name: str | None = None,
) -> Iterator[tuple[str, bytes]]:
    """(safe display name, bytes) of each photo member, in archive order; see the module doc.

    `name` labels the archive in messages (default: the file name, or "uploaded archive").
    Image members are yielded on their extension or their magic bytes; whether they really
    decode is `decode_image`'s business.
    """
    label = name or (Path(data).name if isinstance(data, (str, Path)) else "uploaded archive")
    skip = on_skip or (lambda _n, _r: None)
    limits = (max_member_bytes, max_total_bytes, max_ratio)
    zf = _open(data, label)
    with zf:
        try:
            infos = zf.infolist()
        except Exception as err:  # noqa: BLE001
            raise ZipImportError(label, f"is not a readable zip archive ({err})") from None
        if len(infos) > max_files:
            raise ZipImportError(label, f"has {len(infos)} entries; the limit is {max_files} per archive "
                                        "(split it into smaller archives)")
        plan: list[tuple[zipfile.ZipInfo, str]] = []
        declared = 0
        for info in infos:
            shown = safe_name(info.filename)
            raw = repr(info.filename[:200])  # refusals quote the name as stored, control characters escaped
            if _unsafe_path(info.filename):
                raise ZipImportError(label, f"member {raw} has an unsafe path (absolute or containing '..'); "
                                            "the archive is refused", info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ZipImportError(label, f"member {raw} is a symbolic link; the archive is refused", info.filename)
            if info.flag_bits & 0x1 or info.compress_type == 99:
                raise ZipImportError(label, f"member {raw} is encrypted (password-protected); unzip it with "
                                            "the password and add the photos directly", info.filename)
            if info.is_dir():
                continue
            kind = _classify(info)
            if kind not in ("image", "sniff"):
                plan.append((info, kind))
                continue
            if kind == "image":
                declared = _check_declared(label, info, declared, limits)
            plan.append((info, kind))

        actual = 0
        for info, kind in plan:
            shown = safe_name(info.filename)
            if kind not in ("image", "sniff"):
                skip(shown, kind)
                continue
            try:
                if kind == "sniff":
                    head = _bounded_read(zf, info, _SNIFF - 1)
                    if head.startswith(_ARCHIVE_MAGIC):
                        skip(shown, NESTED)
                        continue
                    if not (head.startswith(_IMAGE_MAGIC) or head[8:12] == b"WEBP"):
                        suffix = PurePosixPath(shown).suffix or "no extension"
                        skip(shown, f"not a photo ({suffix}); only {', '.join(IMAGE_EXTENSIONS)} files are read")
                        continue
                    declared = _check_declared(label, info, declared, limits)
                body = _bounded_read(zf, info, min(max_member_bytes, max_total_bytes - actual))
            except ZipImportError:
                raise
            except Exception as err:  # noqa: BLE001 - CRC mismatch, bad deflate data, unknown method...
                text = str(err) or type(err).__name__
                if isinstance(err, NotImplementedError):
                    skip(shown, f"uses an unsupported compression method ({text}); re-zip with standard compression")
                else:
                    skip(shown, f"is damaged in the archive ({text}); the other members are still read")
                continue
            actual += len(body)
            if len(body) > info.file_size:
                raise ZipImportError(label, f"member {shown!r} holds more data than its header declares "
                                            f"({info.file_size} bytes; possible zip bomb)", info.filename)
            if len(body) > max_member_bytes:
                raise ZipImportError(label, f"member {shown!r} is over {_mb(max_member_bytes)} uncompressed "
                                            "(possible zip bomb)", info.filename)
            if actual > max_total_bytes:
                raise ZipImportError(label, f"photos hold over {_mb(max_total_bytes)} uncompressed; that is the "
                                            "limit per archive (possible zip bomb)", info.filename)
            ratio = len(body) / max(info.compress_size, 1)
            if len(body) > RATIO_FLOOR and ratio > max_ratio:
                raise ZipImportError(label, f"member {shown!r} expands {ratio:.0f}x; the limit is {max_ratio:g}x "
                                            "(possible zip bomb)", info.filename)
            if not body:
                skip(shown, "is empty (0 bytes)")
                continue
            yield shown, body


def _check_declared(label: str, info: zipfile.ZipInfo, declared: int, limits: tuple[int, int, float]) -> int:
    """The running total of declared photo bytes, or a refusal if a header already says bomb."""
    max_member, max_total, max_ratio = limits
    shown = safe_name(info.filename)
    if info.file_size > max_member:
        raise ZipImportError(label, f"member {shown!r} declares {_mb(info.file_size)} uncompressed; the limit is "
                                    f"{_mb(max_member)} per photo (possible zip bomb)", info.filename)
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > RATIO_FLOOR and ratio > max_ratio:
        raise ZipImportError(label, f"member {shown!r} declares a compression ratio of {ratio:.0f}x; the limit is "
                                    f"{max_ratio:g}x (possible zip bomb)", info.filename)
    declared += info.file_size
    if declared > max_total:
        raise ZipImportError(label, f"photos declare over {_mb(declared)} uncompressed; the limit is "
                                    f"{_mb(max_total)} per archive (possible zip bomb)", info.filename)
    return declared


def read_zip_images(data: bytes | str | Path, **limits) -> ZipContents:
    """All photos of an archive at once, with the skipped members (same limits and refusals)."""
    skipped: list[Skipped] = []
    images = tuple(iter_zip_images(data, on_skip=lambda n, r: skipped.append(Skipped(n, r)), **limits))
    return ZipContents(images, tuple(skipped))
