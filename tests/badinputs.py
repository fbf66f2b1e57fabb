"""The bad-input corpus: awkward files an officer's phone, a seized laptop or a hostile
sender can produce, each with what the tool must do with it.

    from tests.badinputs import build_corpus
    cases = build_corpus(tmp_path)             # writes the files, returns [Case]

    python -m tests.badinputs /tmp/corpus      # the same, for trying the app by hand

Not a test module: tests/test_bad_inputs.py runs every case through the decoder, the
Identify path, the batch command and the trainer's upload gate. Real photos come from
../shared/photos (read, never copied into the repo); without them a synthetic photo
stands in.
"""
from __future__ import annotations

import io
import os
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from species_data.images import MAX_BYTES, MAX_PIXELS

SHARED_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "photos"

RED, GREEN, BLUE, WHITE, BLACK = (220, 30, 30), (30, 200, 30), (30, 30, 220), (255, 255, 255), (0, 0, 0)
# (x, y) as fractions of width/height -> colour the decoded, upright RGB image must show there
UPRIGHT = ((0.25, 0.25, RED), (0.75, 0.25, GREEN), (0.25, 0.75, BLUE), (0.75, 0.75, WHITE))
LEFT_WHITE_RIGHT_RED = ((0.25, 0.5, WHITE), (0.75, 0.5, RED))


@dataclass(frozen=True)
class Case:
    kind: str  # unique id of the kind of input
    path: Path  # where build_corpus wrote it
    accepted: bool  # decoder (archives: iter_zip_images) accepts it
    words: tuple[str, ...] = ()  # refused: each appears in the reason (case-insensitive)
    size: tuple[int, int] | None = None  # accepted: (width, height) of the upright image at full scale
    pixels: tuple[tuple[float, float, tuple[int, int, int]], ...] = ()  # accepted: colour probes
    archive: bool = False  # a zip: iter_zip_images, not decode_image
    images: int = 0  # accepted archive: members yielded
    skipped: int = 0  # accepted archive: members skipped with a reason
    note: str = ""
    checks: tuple[str, ...] = field(default=())  # extra named checks ("draft": decodes reduced)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def batch_rows(self) -> int:
        """Rows the batch command writes for this file."""
        if self.archive and self.accepted:
            return max(1, self.images + self.skipped)
        return 1

    @property
    def batch_errors(self) -> int:
        if self.archive and self.accepted:
            return self.skipped if self.images + self.skipped else 1
        return 0 if self.accepted else 1


# -- pixel makers ------------------------------------------------------------------------------

def quadrants(width: int = 64, height: int = 40) -> Image.Image:
    """Upright test card: red top-left, green top-right, blue bottom-left, white bottom-right."""
    image = Image.new("RGB", (width, height), WHITE)
    w, h = width // 2, height // 2
    image.paste(RED, (0, 0, w, h))
    image.paste(GREEN, (w, 0, width, h))
    image.paste(BLUE, (0, h, w, height))
    return image


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def real_photo(photos: Path = SHARED_PHOTOS, cls: str = "tiger", index: int = 0) -> Image.Image:
    """A real photo (RGB), or a synthetic stand-in when the shared photos are missing."""
    files = sorted((photos / cls).glob("*.jpg")) if (photos / cls).is_dir() else []
    for f in files[index:]:
        with Image.open(f) as im:
            if min(im.size) >= 200:
                return im.convert("RGB")
    rng = np.random.default_rng(index)
    yy, xx = np.mgrid[0:480, 0:640]
    base = np.stack([xx * 255 // 640, yy * 255 // 480, (xx + yy) * 255 // 1120], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid-looking PNG of a few hundred bytes whose header declares width x height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 4096, 9)) + _png_chunk(b"IEND", b""))


def jpeg_bomb(small_jpeg: bytes, width: int = 65_000, height: int = 65_000) -> bytes:
    """A small JPEG with its frame header (SOF) patched to declare huge dimensions."""
    data = bytearray(small_jpeg)
    for marker in (b"\xff\xc0", b"\xff\xc2", b"\xff\xc1"):
        at = data.find(marker)
        if at >= 0:
            struct.pack_into(">HH", data, at + 5, height, width)
            return bytes(data)
    raise ValueError("no SOF marker in the JPEG")


def gif_bomb() -> bytes:
    data = bytearray(encode(Image.new("P", (4, 4)), "GIF"))
    struct.pack_into("<HH", data, 6, 65535, 65535)  # logical screen width, height
    return bytes(data)


def exif_oriented(orientation: int) -> bytes:
    """JPEG whose stored pixels need EXIF `orientation` to show the upright test card."""
    inverse = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
               4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
               6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}
    stored = quadrants()
    if orientation in inverse:
        stored = stored.transpose(inverse[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


# -- zip makers --------------------------------------------------------------------------------

def make_zip(members: list[tuple[str | zipfile.ZipInfo, bytes]], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _patch_entries(data: bytes, patch: Callable[[bytearray, int, bool], None]) -> bytes:
    """Apply `patch(buf, offset, central)` to every local (PK\\3\\4) and central (PK\\1\\2) header."""
    buf = bytearray(data)
    for sig, central in ((b"PK\x03\x04", False), (b"PK\x01\x02", True)):
        at = buf.find(sig)
        while at >= 0:
            patch(buf, at, central)
            at = buf.find(sig, at + 4)
    return bytes(buf)


def mark_encrypted(data: bytes) -> bytes:
    def patch(buf: bytearray, at: int, central: bool) -> None:
        flags_at = at + (8 if central else 6)
        struct.pack_into("<H", buf, flags_at, struct.unpack_from("<H", buf, flags_at)[0] | 0x1)
    return _patch_entries(data, patch)


def declare_size(data: bytes, member: str, size: int) -> bytes:
    """Rewrite the uncompressed size the headers declare for `member` (the data stay as they are)."""
    target = member.encode()

    def patch(buf: bytearray, at: int, central: bool) -> None:
        name_len_at, name_at, size_at = (at + 28, at + 46, at + 24) if central else (at + 26, at + 30, at + 22)
        name_len = struct.unpack_from("<H", buf, name_len_at)[0]
        if bytes(buf[name_at:name_at + name_len]) == target:
            struct.pack_into("<I", buf, size_at, size)
    return _patch_entries(data, patch)


def symlink_zip() -> bytes:
    info = zipfile.ZipInfo("photos/link.jpg")
    info.create_system = 3
    info.external_attr = (0o120777 << 16)
    return make_zip([(info, b"/etc/passwd")])


# -- the corpus ----------------------------------------------------------------------------------

def build_corpus(dest: Path, photos: Path = SHARED_PHOTOS) -> list[Case]:
    """Write every case into `dest` (a fresh folder) and return their expectations."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def put(kind: str, name: str | bytes, data: bytes, accepted: bool, **expect) -> None:
        raw = os.path.join(os.fsencode(dest), name if isinstance(name, bytes) else os.fsencode(name))
        with open(raw, "wb") as fh:
            fh.write(data)
        cases.append(Case(kind, Path(os.fsdecode(raw)), accepted, **expect))

    photo = real_photo(photos, "tiger")
    photo_jpeg = encode(photo, "JPEG", quality=90)
    other = real_photo(photos, "elephant")
    other_jpeg = encode(other, "JPEG", quality=90)
    size = photo.size
    card = quadrants()

    # accepted: formats and modes
    put("real_jpeg", "tiger.jpg", photo_jpeg, True, size=size)
    put("uppercase_extension", "IMG_0001.JPG", other_jpeg, True, size=other.size)
    put("no_extension", "photo_without_extension", photo_jpeg, True, size=size)
    put("cmyk_jpeg", "cmyk.jpg", encode(photo.convert("CMYK"), "JPEG", quality=90), True, size=size)
    put("grayscale_jpeg", "grayscale.jpg", encode(photo.convert("L"), "JPEG"), True, size=size)
    put("progressive_jpeg", "progressive.jpg", encode(photo, "JPEG", progressive=True, optimize=True), True, size=size)
    put("broken_exif_jpeg", "broken_exif.jpg",
        encode(card, "JPEG", quality=95, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff\x01\x12\x00"),
        True, size=card.size, pixels=UPRIGHT, note="a damaged EXIF block must not cost the photo")
    for o in range(1, 9):
        put(f"exif_orientation_{o}", f"orientation_{o}.jpg", exif_oriented(o), True, size=card.size,
            pixels=UPRIGHT, note="comes out upright")
    ramp = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    put("png_16bit", "gray16.png", encode(Image.fromarray(ramp), "PNG"), True, size=(64, 48))
    bits = Image.new("1", (40, 40), 0)
    bits.paste(1, (20, 0, 40, 40))
    put("png_1bit", "bilevel.png", encode(bits, "PNG"), True, size=(40, 40),
        pixels=((0.25, 0.5, BLACK), (0.75, 0.5, WHITE)))
    pal = Image.new("P", (40, 40), 0)
    pal.putpalette([0, 0, 0, *RED] + [0] * 762)
    pal.paste(1, (20, 0, 40, 40))
    put("png_palette_transparency", "palette_transparent.png", encode(pal, "PNG", transparency=0), True,
        size=(40, 40), pixels=LEFT_WHITE_RIGHT_RED, note="transparent pixels become white")
    la = Image.new("LA", (40, 40), (0, 0))
    la.paste((0, 255), (20, 0, 40, 40))
    put("png_la", "gray_alpha.png", encode(la, "PNG"), True, size=(40, 40),
        pixels=((0.25, 0.5, WHITE), (0.75, 0.5, BLACK)))
    rgba = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    rgba.paste((*RED, 255), (20, 0, 40, 40))
    put("png_rgba", "rgba.png", encode(rgba, "PNG"), True, size=(40, 40), pixels=LEFT_WHITE_RIGHT_RED)
    put("png_interlaced", "interlaced.png", encode(card, "PNG", interlace=1), True, size=card.size, pixels=UPRIGHT)
    frames = [Image.new("RGB", (32, 32), c) for c in (RED, GREEN, BLUE)]
    put("gif_animated", "animated.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:],
                                                 duration=100, loop=0), True,
        size=(32, 32), pixels=((0.5, 0.5, RED),), note="first frame")
    put("webp_animated", "animated.webp", encode(frames[0], "WEBP", save_all=True, append_images=frames[1:],
                                                   duration=100, lossless=True), True,
        size=(32, 32), pixels=((0.5, 0.5, RED),), note="first frame")
    put("webp", "card.webp", encode(card, "WEBP", lossless=True), True, size=card.size, pixels=UPRIGHT)
    put("bmp", "card.bmp", encode(card, "BMP"), True, size=card.size, pixels=UPRIGHT)
    put("tiff", "card.tif", encode(card, "TIFF", compression="tiff_lzw"), True, size=card.size, pixels=UPRIGHT)
    put("png_named_gif", "really_a_png.gif", encode(card, "PNG"), True, size=card.size, pixels=UPRIGHT,
        note="content decides, not the extension")
    put("one_pixel", "one_pixel.png", encode(Image.new("RGB", (1, 1), RED), "PNG"), True, size=(1, 1),
        pixels=((0.5, 0.5, RED),))
    put("extreme_aspect", "panorama_10000x20.png", encode(Image.new("RGB", (10000, 20), GREEN), "PNG"), True,
        size=(10000, 20))
    w = 8160
    h = round(w * photo.height / photo.width)
    if w * h > MAX_PIXELS:  # keep "large but within limits" for any stand-in photo
        h = MAX_PIXELS // w - 1
    big = photo.resize((w, h), Image.Resampling.BILINEAR)
    put("huge_100mp_jpeg", "huge_100mp.jpg", encode(big, "JPEG", quality=70), True, size=(w, h), checks=("draft",),
        note=f"{w * h / 1e6:.0f} MP real photo, upscaled: decoded at reduced scale")
    del big

    # accepted: names
    put("unicode_name", "ñandú 🐆.jpg", other_jpeg, True, size=other.size)
    put("shell_metachar_name", "$(rm -rf x);.jpg", photo_jpeg, True, size=size)
    put("quotes_name", "it's \"here\" & <there> | `id`.jpg", photo_jpeg, True, size=size)
    put("csv_formula_name", "=HYPERLINK(1)+cmd.jpg", photo_jpeg, True, size=size,
        note="must not become a spreadsheet formula in results.csv")
    put("non_utf8_name", b"caf\xe9 latin1.jpg", photo_jpeg, True, size=size)

    # refused
    put("truncated_jpeg", "truncated.jpg", photo_jpeg[: len(photo_jpeg) // 2], False, words=("truncated",))
    put("jpeg_header_only", "header_only.jpg", photo_jpeg[:300], False, words=("truncated",))
    put("zero_bytes", "empty.jpg", b"", False, words=("empty",))
    put("text_named_jpg", "notes.jpg", b"Seizure 2024-11-02, container MSKU1234567\n" * 20, False,
        words=("not an image",))
    put("html_named_jpg", "download.jpg", b"<!DOCTYPE html><html><head><title>403</title></head><body>Forbidden"
        b"</body></html>", False, words=("web page", "html"))
    put("svg", "drawing.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" '
        b'height="10"><rect width="10" height="10"/></svg>', False, words=("svg",))
    put("heic_like", "IMG_4032.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200,
        False, words=("heic",))
    put("video_named_jpg", "clip.jpg", b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00" * 200,
        False, words=("video",))
    put("pdf_named_jpg", "scan.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n", False, words=("pdf",))
    put("eps_named_jpg", "vector.jpg", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", False,
        words=("postscript",), note="must never reach Ghostscript")
    put("random_bytes", "noise.jpg", np.random.default_rng(7).bytes(5000), False, words=("not an image",))
    put("png_bad_crc", "bad_crc.png", encode(card, "PNG")[:29] + b"\x00\x00\x00\x00" + encode(card, "PNG")[33:],
        False, words=("damaged",))
    put("png_bomb", "bomb.png", png_bomb(), False, words=("decompression bomb", "50000x50000"))
    put("jpeg_bomb", "bomb.jpg", jpeg_bomb(encode(card, "JPEG")), False, words=("decompression bomb",))
    put("gif_bomb", "bomb.gif", gif_bomb(), False, words=("decompression bomb",))
    over = os.path.join(dest, "oversize.jpg")
    with open(over, "wb") as fh:  # sparse: costs no disk
        fh.write(photo_jpeg[:1000])
        fh.truncate(MAX_BYTES + 2**20)
    cases.append(Case("oversize_file", Path(over), False, words=("mb", "limit")))
    if hasattr(os, "mkfifo"):
        os.mkfifo(dest / "pipe.jpg")
        cases.append(Case("fifo_named_jpg", dest / "pipe.jpg", False, words=("not a regular file",),
                          note="must not block reading a pipe"))
    os.symlink(dest / "does-not-exist.jpg", dest / "dangling.jpg")
    cases.append(Case("dangling_symlink", dest / "dangling.jpg", False, words=("cannot be read",)))

    # archives
    inner = make_zip([("inner.jpg", photo_jpeg)])
    put("zip_ok", "photos.zip", make_zip([
        ("a.jpg", photo_jpeg), ("sub/", b""), ("sub/b.png", encode(card, "PNG")), ("IMG_0003", other_jpeg),
        ("readme.txt", b"seized 2024"), ("__MACOSX/sub/._b.png", b"\x00\x05\x16\x07"), ("inner.zip", inner),
    ]), True, archive=True, images=3, skipped=3,
        note="photos by extension or magic bytes; text, macOS metadata and the nested zip skipped")
    put("zip_nested", "nested.zip", make_zip([("level1.zip", make_zip([("level2.zip", inner)]))]), True,
        archive=True, images=0, skipped=1, note="nested archives are not opened")
    put("zip_empty", "empty.zip", make_zip([]), True, archive=True, images=0, skipped=0)
    put("zip_traversal", "traversal.zip", make_zip([("ok.jpg", photo_jpeg), ("../../evil.jpg", photo_jpeg)]),
        False, archive=True, words=("unsafe path", "evil.jpg"))
    put("zip_absolute", "absolute.zip", make_zip([("/etc/cron.d/evil.jpg", photo_jpeg)]), False, archive=True,
        words=("unsafe path",))
    put("zip_backslash_traversal", "backslash.zip", make_zip([("..\\..\\evil.jpg", photo_jpeg)]), False,
        archive=True, words=("unsafe path",))
    put("zip_symlink", "symlink.zip", symlink_zip(), False, archive=True, words=("symbolic link",))
    put("zip_encrypted", "encrypted.zip", mark_encrypted(make_zip([("secret.jpg", photo_jpeg)])), False,
        archive=True, words=("encrypted",))
    put("zip_bomb", "bomb.zip", make_zip([("bomb.jpg", b"\x00" * (20 * 2**20))]), False, archive=True,
        words=("zip bomb", "ratio"))
    put("zip_bomb_declared", "declared_bomb.zip",
        declare_size(make_zip([("ok.jpg", photo_jpeg), ("huge.jpg", photo_jpeg)]), "huge.jpg", 3_000_000_000),
        False, archive=True, words=("zip bomb", "declares"))
    put("zip_size_lie", "size_lie.zip",
        declare_size(make_zip([("good.jpg", photo_jpeg), ("liar.jpg", other_jpeg)]), "liar.jpg", 100),
        True, archive=True, images=1, skipped=1, note="header says 100 bytes: bounded read, CRC fails, skipped")
    put("zip_many_files", "many_files.zip", make_zip([(f"f{i:04d}.jpg", b"x") for i in range(3000)]), False,
        archive=True, words=("3000", "limit"))
    put("zip_corrupt", "broken.zip", b"PK\x03\x04" + np.random.default_rng(3).bytes(3000), False, archive=True,
        words=("not a readable zip",))
    ok_zip = make_zip([("a.jpg", photo_jpeg), ("b.jpg", other_jpeg)])
    put("zip_truncated", "truncated.zip", ok_zip[: len(ok_zip) // 2], False, archive=True,
        words=("not a readable zip",))
    kinds = [c.kind for c in cases]
    assert len(kinds) == len(set(kinds)), "case kinds must be unique"
    return cases


def color_close(got: tuple[int, ...], want: tuple[int, int, int], tol: int = 60) -> bool:
    return all(abs(int(g) - w) <= tol for g, w in zip(got, want))


def probe_failures(case: Case, image: Image.Image) -> list[str]:
    """What is wrong with a decoded image against the case's expectations (empty: nothing)."""
    problems = []
    if image.mode != "RGB":
        problems.append(f"mode {image.mode}, expected RGB")
    if case.size is not None and image.size != case.size:
        problems.append(f"size {image.size}, expected {case.size}")
    for fx, fy, want in case.pixels:
        xy = (min(int(fx * image.width), image.width - 1), min(int(fy * image.height), image.height - 1))
        got = image.getpixel(xy)
        if not color_close(got, want):
            problems.append(f"pixel at {xy} is {got}, expected about {want}")
    return problems


if __name__ == "__main__":  # pragma: no cover
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs")
    for c in build_corpus(out):
        verdict = "accept" if c.accepted else "refuse: " + ", ".join(c.words)
        print(f"{c.kind:28s} {c.name!s:40s} {verdict}")
