"""Safe image decoding: the one door every photo goes through.

Whatever arrives (a phone JPEG, a CMYK scan, a 16-bit PNG, a text file named
.jpg, a decompression bomb) leaves as an RGB `PIL.Image` with EXIF orientation
applied, or as an `ImageDecodeError` whose message says what is wrong in words
a person understands. Nothing here crashes on bad bytes.
"""
from __future__ import annotations

import hashlib
import io
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# A photo above this many pixels is refused before its pixels are decoded.
# 128 MP admits a 100 MP camera photo and refuses a 20,000 x 20,000 header.
MAX_PIXELS = 128_000_000
# A JPEG is decoded at reduced scale (1/2 to 1/8) when the caller needs fewer pixels (every
# caller in the app says how many it needs), so MAX_PIXELS bounds it. Other formats are
# decoded at full size, about 6 bytes per pixel at the peak (palette or grey, then RGB), so
# they have a lower limit: 32 MP keeps one decode under 200 MB.
MAX_DECODED_PIXELS = 32_000_000
# Files larger than this are refused before they are read into memory.
MAX_BYTES = 64 * 1024 * 1024
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")
# The only Pillow decoders a file may reach, whatever its bytes claim to be: no EPS (that
# would run Ghostscript), no ICO/PSD/FITS/... parsers that photos never need. The JPEG
# opener also returns "MPO" for a phone JPEG that carries a second picture.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_SUPPORTED = "JPEG, PNG, WebP, GIF, BMP, TIFF"

# Pillow's own bomb guard stays on for the whole process, at our limit, so any code path
# that opens an image some other way is still protected: Pillow warns above it and refuses
# above twice it, before decoding. Ours runs first for everything that comes through here
# and words the refusal (`decode_image` hides the warning and turns the error into ours).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

ImageSource = Union[bytes, bytearray, str, Path, Image.Image]


class ImageDecodeError(ValueError):
    """A file that is not a usable image; `reason` is a short phrase for people."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image  # RGB, EXIF orientation applied
    sha256: str  # of the original bytes ("" for an in-memory PIL image)
    original_size: tuple[int, int]  # width, height before any draft reduction (upright, like `image`)
    format: str  # "JPEG", "PNG", ...


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(source: ImageSource, name: str | None = None) -> tuple[bytes, str]:
    """Bytes and a display name for a path or bytes, refusing oversized files up front.

    Only regular files are read (a FIFO or a device named .jpg would block or never
    end), and never more than MAX_BYTES + 1 bytes, whatever `stat` said.
    """
    limit = f"the limit is {MAX_BYTES // 2**20} MB"
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "uploaded file"
    else:
        path = Path(source)
        label = name or path.name or str(path)
        try:
            info = path.stat()
            if stat.S_ISDIR(info.st_mode):
                raise ImageDecodeError(label, "is a folder, not a photo file")
            if not stat.S_ISREG(info.st_mode):
                raise ImageDecodeError(label, "is not a regular file (a device, pipe or socket); pass a photo file")
            if info.st_size > MAX_BYTES:
                raise ImageDecodeError(label, f"file is {info.st_size / 2**20:.0f} MB; {limit}")
            with open(path, "rb") as fh:
                data = fh.read(MAX_BYTES + 1)
        except OSError as err:
            raise ImageDecodeError(label, f"cannot be read ({err.strerror or err})") from None
    if not data:
        raise ImageDecodeError(label, "file is empty (0 bytes)")
    if len(data) > MAX_BYTES:
        raise ImageDecodeError(label, f"file is over {len(data) / 2**20:.0f} MB; {limit}")
    return data, label


_IMAGE_SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF8": "GIF", b"BM": "BMP",
                     b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}


def _explain_unreadable(data: bytes) -> str:
    """Why Pillow could not even identify these bytes, as specifically as the first bytes allow."""
    for signature, kind in _IMAGE_SIGNATURES.items():
        if data.startswith(signature):
            return f"{kind} file is damaged (its header cannot be read); take or export the photo again"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "WebP file is damaged (its header cannot be read); take or export the photo again"
    return _not_a_photo(data) or f"is not an image format this tool can read ({_SUPPORTED})"


def _not_a_photo(data: bytes) -> str | None:
    """A specific reason for common non-photo files that arrive named .jpg (None: no idea)."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if data[4:8] == b"ftyp":
        brand = data[8:12].lower()
        if brand in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"heif"):
            return ("is a HEIC/HEIF photo (iPhone format), which this tool cannot read; "
                    "export it as JPEG (or set the camera to 'Most Compatible') and try again")
        if brand in (b"avif", b"avis"):
            return "is an AVIF image, which this tool cannot read; export it as JPEG or PNG"
        return "is a video or other media file, not a photo; take a still photo (JPEG or PNG)"
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "is a web page (HTML), not a photo; save the image itself (right-click > Save image)"
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "is an SVG drawing, not a photo; export it as PNG or JPEG"
    if data.startswith(b"%PDF"):
        return "is a PDF document, not a photo; export the page as an image (JPEG or PNG)"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "is a zip archive, not a photo; unpack it or pass the archive to the batch command"
    if data.startswith(b"%!PS"):
        return "is a PostScript/EPS file, not a photo; export it as PNG or JPEG"
    return None


def decode_image(
    source: ImageSource,
    *,
    name: str | None = None,
    min_side: int | None = None,
    max_pixels: int = MAX_PIXELS,
) -> DecodedImage:
    """Decode any supported image to RGB.

    `min_side`: the caller needs at least this many pixels on the short side, so a
    JPEG may be decoded at a reduced DCT scale (Pillow's draft mode): a 12 MP photo
    decodes in a fraction of the time when only 256 px are needed.
    """
    if isinstance(source, Image.Image):
        label = name or "image"
        try:
            image = _to_rgb(source, label)
        except ImageDecodeError:
            raise
        except Exception as err:  # an odd in-memory mode must not escape as a bare ValueError
            raise ImageDecodeError(label, f"image could not be converted to RGB ({err})") from None
        return DecodedImage(image, "", image.size, source.format or "")
    data, label = read_bytes(source, name)
    digest = content_hash(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            image_format = image.format or ""
            width, height = image.size
            if width < 1 or height < 1:
                raise ImageDecodeError(label, "image has no pixels")
            if width * height > max_pixels:
                raise ImageDecodeError(
                    label,
                    f"image is {width}x{height} pixels ({width * height / 1e6:.0f} MP); "
                    f"the limit is {max_pixels / 1e6:.0f} MP (possible decompression bomb)",
                )
            if min_side and image_format in ("JPEG", "MPO") and image.mode in ("RGB", "L", "CMYK", "YCbCr"):
                image.draft(image.mode if image.mode != "YCbCr" else "RGB", (min_side, min_side))
            if image_format not in ("JPEG", "MPO") and width * height > MAX_DECODED_PIXELS:
                raise ImageDecodeError(
                    label,
                    f"image is {width}x{height} pixels ({width * height / 1e6:.0f} MP) and a "
                    f"{image_format or 'file'} this large is decoded at full size; the limit for that "
                    f"is {MAX_DECODED_PIXELS / 1e6:.0f} MP (possible decompression bomb). Save it as "
                    "JPEG, or smaller")
            image.load()
            loaded = image.size
            image = _to_rgb(image, label)
            if image.size != loaded and image.size == loaded[::-1]:  # EXIF turned it a quarter
                width, height = height, width
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as err:  # Pillow's guard, from the header: over 2 x MAX_PIXELS
        raise ImageDecodeError(label, _bomb_reason(data, str(err), max_pixels)) from None
    except UnidentifiedImageError:
        raise ImageDecodeError(label, _explain_unreadable(data)) from None
    except Exception as err:  # noqa: BLE001 - Pillow's parsers raise many types on hostile bytes
        text = str(err) or type(err).__name__
        damaged = isinstance(err, (EOFError, SyntaxError)) or any(
            w in text.lower() for w in ("truncat", "broken", "corrupt", "premature end"))
        reason = ("image file is truncated or damaged" if damaged
                  else f"image could not be decoded ({text[:200]})")
        raise ImageDecodeError(label, reason) from None
    return DecodedImage(image, digest, (width, height), image_format)


def _bomb_reason(data: bytes, pillow_message: str, max_pixels: int) -> str:
    """Why a file Pillow refused from its header is refused, with its size when known.

    The size is read by the format's own header parser (`Image.OPEN`), which decodes no pixels
    and, unlike `Image.open`, does not stop at Pillow's limit."""
    size = None
    for fmt in ALLOWED_FORMATS:
        factory, accept = Image.OPEN.get(fmt, (None, None))
        try:
            if factory is not None and (accept is None or accept(data[:16])):
                size = factory(io.BytesIO(data), None).size
                break
        except Exception:  # noqa: BLE001 - only the wording depends on it
            continue
    if size is not None:
        width, height = size
        shown = f"{width}x{height} pixels ({width * height / 1e6:.0f} MP)"
    else:
        found = re.search(r"\((\d+) pixels\)", pillow_message)
        shown = f"{int(found.group(1)) / 1e6:.0f} MP" if found else f"over {2 * MAX_PIXELS / 1e6:.0f} MP"
    return f"image is {shown}; the limit is {max_pixels / 1e6:.0f} MP (possible decompression bomb)"


def _to_rgb(image: Image.Image, label: str) -> Image.Image:
    """EXIF orientation first, then whatever mode this is becomes 8-bit RGB."""
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # animated GIF/WebP: the first frame
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not cost us the photo
        pass
    mode = image.mode
    if mode in ("RGBa", "La"):  # premultiplied alpha: Pillow converts these only to RGBA/LA
        image = image.convert(mode[:-1] + "A")
        mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / (high - low) * 255.0 if high > low else np.zeros_like(array)
        image = Image.fromarray(scaled.astype(np.uint8), "L")
        mode = "L"
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.width < 1 or image.height < 1:
        raise ImageDecodeError(label, "image has no pixels")
    return image


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS
