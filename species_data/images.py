"""Safe image decoding: the one door every photo goes through.

Whatever arrives (a phone JPEG, a CMYK scan, a 16-bit PNG, a text file named
.jpg, a decompression bomb) leaves as an RGB `PIL.Image` with EXIF orientation
applied, or as an `ImageDecodeError` whose message says what is wrong in words
a person understands. Nothing here crashes on bad bytes.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# A photo above this many pixels is refused before its pixels are decoded.
# 128 MP admits a 100 MP camera photo and refuses a 20,000 x 20,000 header.
MAX_PIXELS = 128_000_000
# Files larger than this are refused before they are read into memory.
MAX_BYTES = 64 * 1024 * 1024
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")

# Pillow's own bomb check would warn (or raise) with a message naming no file; ours runs first.
Image.MAX_IMAGE_PIXELS = None

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
    original_size: tuple[int, int]  # width, height before any draft reduction
    format: str  # "JPEG", "PNG", ...


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(source: ImageSource, name: str | None = None) -> tuple[bytes, str]:
    """Bytes and a display name for a path or bytes, refusing oversized files up front."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        label = name or "uploaded file"
    else:
        path = Path(source)
        label = name or path.name
        try:
            size = path.stat().st_size
        except OSError as err:
            raise ImageDecodeError(label, f"cannot be read ({err.strerror or err})") from None
        if size > MAX_BYTES:
            raise ImageDecodeError(label, f"file is {size / 2**20:.0f} MB; the limit is {MAX_BYTES // 2**20} MB")
        data = path.read_bytes()
    if not data:
        raise ImageDecodeError(label, "file is empty (0 bytes)")
    if len(data) > MAX_BYTES:
        raise ImageDecodeError(label, f"file is {len(data) / 2**20:.0f} MB; the limit is {MAX_BYTES // 2**20} MB")
    return data, label


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
        image = _to_rgb(source, name or "image")
        return DecodedImage(image, "", image.size, source.format or "")
    data, label = read_bytes(source, name)
    digest = content_hash(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
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
            if min_side and image_format == "JPEG" and image.mode in ("RGB", "L", "CMYK", "YCbCr"):
                image.draft(image.mode if image.mode != "YCbCr" else "RGB", (min_side, min_side))
            image.load()
            image = _to_rgb(image, label)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(label, "not an image format this tool can read (JPEG, PNG, WebP, GIF, BMP, TIFF)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        text = str(err)
        reason = "image file is truncated or damaged" if "truncat" in text or "broken" in text else f"image could not be decoded ({text})"
        raise ImageDecodeError(label, reason) from None
    except Image.DecompressionBombError as err:  # pragma: no cover - guarded above
        raise ImageDecodeError(label, f"possible decompression bomb ({err})") from None
    return DecodedImage(image, digest, (width, height), image_format)


def _to_rgb(image: Image.Image, label: str) -> Image.Image:
    """EXIF orientation first, then whatever mode this is becomes 8-bit RGB."""
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)  # animated GIF/WebP: the first frame
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not cost us the photo
        pass
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
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
