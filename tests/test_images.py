"""Unit tests of the one decoding door, species_data.images (the corpus-wide checks are in
test_bad_inputs.py, random inputs in test_fuzz.py)."""
from __future__ import annotations

import io
import os
import struct
import subprocess
import threading

import numpy as np
import pytest
from PIL import Image

from species_data import images
from species_data.images import ImageDecodeError, content_hash, decode_image, read_bytes
from tests.badinputs import UPRIGHT, encode, exif_oriented, quadrants, real_photo


def photo_jpeg(size=(640, 480)) -> bytes:
    return encode(real_photo().resize(size), "JPEG", quality=90)


def test_bytes_and_path_give_the_same_pixels_and_hash(tmp_path):
    data = photo_jpeg()
    path = tmp_path / "p.jpg"
    path.write_bytes(data)
    a, b = decode_image(data, name="p.jpg"), decode_image(path)
    assert a.sha256 == b.sha256 == content_hash(data)
    assert a.format == b.format == "JPEG" and a.original_size == (640, 480)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_refusals_name_the_file(tmp_path):
    path = tmp_path / "empty one.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageDecodeError) as err:
        decode_image(path)
    assert err.value.name == "empty one.jpg"
    assert str(err.value).startswith("empty one.jpg: ") and "empty" in err.value.reason


def test_a_folder_is_refused_in_words(tmp_path):
    with pytest.raises(ImageDecodeError, match="folder"):
        decode_image(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_a_pipe_named_jpg_is_refused_without_blocking(tmp_path):
    pipe = tmp_path / "pipe.jpg"
    os.mkfifo(pipe)  # reading it would block until a writer comes

    def unblock():  # should the reader block after all, a writer ends it so the test fails, not hangs
        if not done.wait(5):
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))

    done = threading.Event()
    helper = threading.Thread(target=unblock, daemon=True)
    helper.start()
    try:
        with pytest.raises(ImageDecodeError, match="not a regular file"):
            read_bytes(pipe)
    finally:
        done.set()
        helper.join()


def test_size_limit_is_checked_before_reading(tmp_path):
    big = tmp_path / "big.jpg"
    with open(big, "wb") as fh:
        fh.truncate(images.MAX_BYTES + 1)  # sparse
    with pytest.raises(ImageDecodeError, match="limit is 64 MB"):
        decode_image(big)


def test_size_limit_holds_for_bytes_and_for_files_that_grow(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_BYTES", 1000)
    with pytest.raises(ImageDecodeError, match="limit"):
        decode_image(photo_jpeg(), name="x.jpg")
    path = tmp_path / "x.jpg"
    path.write_bytes(photo_jpeg())
    with pytest.raises(ImageDecodeError, match="limit"):
        read_bytes(path)


def test_pixel_limit_refuses_from_the_header():
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        decode_image(photo_jpeg(), name="p.jpg", max_pixels=640 * 480 - 1)


def test_draft_decodes_large_jpeg_at_reduced_scale_but_reports_original_size():
    data = photo_jpeg((2400, 1800))
    full = decode_image(data)
    small = decode_image(data, min_side=256)
    assert full.image.size == small.original_size == (2400, 1800)
    assert 256 <= min(small.image.size) < 1800 / 2


def test_header_only_jpeg_is_truncated_whatever_the_case_of_pillows_message():
    # Pillow says "Truncated File Read" here (capital T): the reason must still say truncated.
    with pytest.raises(ImageDecodeError, match="truncated"):
        decode_image(photo_jpeg()[:200], name="h.jpg")


def test_damaged_png_header_says_damaged_not_unknown_format():
    data = bytearray(encode(quadrants(), "PNG"))
    data[29:33] = b"\x00\x00\x00\x00"  # IHDR checksum
    with pytest.raises(ImageDecodeError, match="PNG file is damaged"):
        decode_image(bytes(data), name="x.png")


@pytest.mark.parametrize("data, words", [
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
    (b"<!doctype html><html></html>", "web page"),
    (b"  <svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
    (b"%PDF-1.7\n", "PDF"),
    (b"hello", "not an image format"),
])
def test_common_non_photos_get_a_specific_reason(data, words):
    with pytest.raises(ImageDecodeError, match=words):
        decode_image(data, name="x.jpg")


def test_eps_never_reaches_ghostscript(monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("a subprocess was started while decoding an upload")

    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setattr(subprocess, "check_call", forbidden)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(ImageDecodeError, match="PostScript"):
        decode_image(eps, name="vector.jpg")


def test_formats_outside_the_list_are_refused():
    ico = encode(Image.new("RGB", (16, 16), "red"), "ICO")  # Pillow could read it; photos never are ICO
    with pytest.raises(ImageDecodeError, match="not an image format"):
        decode_image(ico, name="favicon.jpg")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation):
    decoded = decode_image(exif_oriented(orientation), name="o.jpg")
    assert decoded.image.size == (64, 40)
    for fx, fy, want in UPRIGHT:
        got = decoded.image.getpixel((int(fx * 64), int(fy * 40)))
        assert all(abs(g - w) < 60 for g, w in zip(got, want)), (orientation, fx, fy, got)


def test_sixteen_bit_keeps_dark_to_light_order():
    ramp = np.tile(np.linspace(0, 65535, 64), (8, 1)).astype(np.uint16)
    decoded = decode_image(encode(Image.fromarray(ramp), "PNG"), name="g16.png")
    row = np.asarray(decoded.image)[4, :, 0].astype(int)
    assert row[0] < 5 and row[-1] > 250 and np.all(np.diff(row) >= 0)


@pytest.mark.parametrize("mode", ["1", "L", "P", "PA", "LA", "La", "RGBA", "RGBa", "CMYK", "YCbCr",
                                  "LAB", "HSV", "I", "I;16", "F"])
def test_in_memory_images_of_every_mode_become_rgb(mode):
    image = Image.new(mode, (8, 6))
    decoded = decode_image(image, name="mem")
    assert decoded.image.mode == "RGB" and decoded.image.size == (8, 6)


def test_float_image_with_nan_and_inf_decodes():
    array = np.array([[np.nan, np.inf], [-np.inf, 1.0]], dtype=np.float32)
    decoded = decode_image(Image.fromarray(array), name="f")
    assert decoded.image.mode == "RGB"


@pytest.mark.parametrize("exc", [struct.error("bad"), IndexError("i"), ZeroDivisionError("z"),
                                 TypeError("t"), KeyError("k"), MemoryError(), RecursionError("r")])
def test_any_parser_exception_becomes_a_decode_error(monkeypatch, exc):
    data = photo_jpeg()

    def broken(*a, **k):
        raise exc

    monkeypatch.setattr(Image, "open", broken)
    with pytest.raises(ImageDecodeError) as err:
        decode_image(data, name="p.jpg")
    assert err.value.name == "p.jpg"


def test_animated_gif_gives_the_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "lime", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(buf.getvalue(), name="a.gif")
    r, g, b = decoded.image.getpixel((4, 4))
    assert r > 200 and g < 50 and b < 50


def test_original_size_is_upright_for_rotated_photos_even_in_draft_mode():
    stored = real_photo().resize((1800, 2400))  # portrait pixels ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... shown turned a quarter: a landscape photo
    data = encode(stored, "JPEG", exif=exif.tobytes())
    for side in (None, 256):
        decoded = decode_image(data, min_side=side)
        assert decoded.original_size == (2400, 1800)
        assert decoded.image.width > decoded.image.height
