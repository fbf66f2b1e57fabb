"""Property-based fuzzing of the two doors hostile bytes come through: the image decoder
and the zip reader. Only their own typed errors may escape, whatever the bytes."""
from __future__ import annotations

import io
import os
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from species_data.images import ImageDecodeError, decode_image
from species_data.zipimport import ZipImportError, iter_zip_images
from tests.badinputs import encode, exif_oriented, make_zip, quadrants, real_photo

# Fixed examples in the suite (derandomize) so a failure reproduces; set FUZZ_EXAMPLES=5000 to explore.
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 100)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow], derandomize="FUZZ_EXAMPLES" not in os.environ)


def _seeds() -> list[bytes]:
    photo = real_photo().resize((96, 72))
    card = quadrants()
    return [
        encode(photo, "JPEG", quality=80),
        encode(photo, "JPEG", progressive=True),
        encode(photo.convert("CMYK"), "JPEG"),
        exif_oriented(6),
        encode(card, "PNG"),
        encode(card.convert("P"), "PNG", transparency=0),
        encode(card, "PNG", interlace=1),
        encode(card, "GIF"),
        encode(card, "WEBP"),
        encode(card, "TIFF"),
        encode(card, "BMP"),
    ]


SEEDS = _seeds()


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A seed file with a few bytes flipped, a run overwritten, cut short or spliced."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "run", "truncate", "insert", "header"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "run":
            run = draw(st.binary(min_size=1, max_size=16))
            data[at:at + len(run)] = run
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:  # dimensions and lengths live in the first bytes: hit them harder
            head = min(len(data) - 1, 64)
            data[draw(st.integers(0, head))] = draw(st.integers(0, 255))
    return bytes(data)


def _check_decode(data: bytes) -> None:
    try:
        decoded = decode_image(data, name="fuzz.jpg", min_side=draw_side(data))
    except ImageDecodeError as err:
        assert err.name == "fuzz.jpg" and err.reason
        return
    assert decoded.image.mode == "RGB"
    assert decoded.image.width >= 1 and decoded.image.height >= 1
    decoded.image.getpixel((0, 0))  # the pixels really are there


def draw_side(data: bytes) -> int | None:
    return 64 if len(data) % 2 else None  # half the cases through JPEG draft mode


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_only_raise_decode_errors(data):
    _check_decode(data)


@FUZZ
@given(mutated(SEEDS))
def test_mutated_images_only_raise_decode_errors(data):
    _check_decode(data)


@FUZZ
@given(st.sampled_from(SEEDS[:4]), st.binary(min_size=1, max_size=64))
def test_magic_prefix_with_garbage_only_raises_decode_errors(seed, garbage):
    _check_decode(seed[:20] + garbage)


# -- zip ------------------------------------------------------------------------------------------

SMALL_JPEG = encode(Image.new("RGB", (8, 8), "red"), "JPEG")


def _check_zip(data: bytes) -> list[str]:
    skipped: list[tuple[str, str]] = []
    try:
        names = [name for name, body in iter_zip_images(data, on_skip=lambda n, r: skipped.append((n, r)),
                                                         max_files=50, max_total_bytes=2**20)]
    except ZipImportError as err:
        assert err.reason and err.archive == "uploaded archive"
        return []
    for name in names + [n for n, _ in skipped]:
        assert ".." not in name and not name.startswith(("/", "\\")), name
        assert not any(ord(c) < 32 for c in name), name
    assert all(reason for _, reason in skipped)
    return names


member_names = st.one_of(
    st.sampled_from(["a.jpg", "../a.jpg", "/abs.jpg", "..\\x.jpg", "C:/x.jpg", "d/../../e.png", "ok/.. /f.jpg",
                     "x..y.jpg", "__MACOSX/._a.jpg", "n.zip", "notes.txt", "IMG_1", "dir/", "\x01ctl.jpg"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30),
)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@FUZZ
@given(st.lists(st.tuples(member_names, st.sampled_from([b"", b"hello", SMALL_JPEG, b"PK\x03\x04junk"])),
                max_size=8))
def test_zip_member_names_are_refused_or_made_safe(members):
    try:
        data = make_zip(members)
    except (ValueError, OSError):  # zipfile itself will not write some names
        return
    _check_zip(data)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_as_zip_only_raise_zip_errors(data):
    _check_zip(data)
    _check_zip(b"PK\x03\x04" + data)


ZIP_SEEDS = [
    make_zip([("a.jpg", SMALL_JPEG), ("b/c.png", encode(quadrants(), "PNG")), ("t.txt", b"text")]),
    make_zip([("a.jpg", SMALL_JPEG)], compression=zipfile.ZIP_STORED),
    make_zip([("z.jpg", b"\x00" * 50_000)]),
    make_zip([("b.jpg", SMALL_JPEG)], compression=zipfile.ZIP_BZIP2),
    make_zip([("l.jpg", SMALL_JPEG)], compression=zipfile.ZIP_LZMA),
]


@FUZZ
@given(mutated(ZIP_SEEDS))
def test_mutated_zips_only_raise_zip_errors(data):
    _check_zip(data)


def test_zip_of_a_path_and_of_bytes_agree(tmp_path):
    path = tmp_path / "a.zip"
    path.write_bytes(ZIP_SEEDS[0])
    assert list(iter_zip_images(path)) == list(iter_zip_images(ZIP_SEEDS[0]))


@pytest.mark.parametrize("seed", range(len(ZIP_SEEDS)))
def test_zip_seeds_are_valid(seed):
    assert _check_zip(ZIP_SEEDS[seed]), "a seed must yield photos, or the mutation test proves little"


def test_seeds_decode():
    for data in SEEDS:
        assert decode_image(io.BytesIO(data).getvalue(), name="seed").image.mode == "RGB"
