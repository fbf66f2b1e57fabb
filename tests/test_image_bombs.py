"""Image bombs through every way a photo enters the running app (issue 14 item 1).

The app runs in its own process (`python -m serve`, as in production) so that its memory can
be read from /proc: before each attempt the process's peak resident size is reset
(/proc/<pid>/clear_refs), and afterwards the new peak must be less than 200 MB above where it
started. The bomb is a 30000 x 30000 1-bit palette PNG of about 110 KB; decoded to RGB it
would take gigabytes. A second one, 11000 x 11000 in 15 KB, stays under the general pixel
limit (128 MP, which JPEGs may use since they are decoded at reduced scale) and would still
have cost about 700 MB: other formats are refused above 32 MP. It goes in through the Identify tab's file list and camera input, a
trainer's photo upload, and a zip archive in that upload, all through `gradio_client`.
(The quiz shows only photos that came in through these doors or the administrator's photo
folders.)"""
from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.app

SIDE = 30_000
MAX_GROWTH_MB = 200
USERS = {"olga": "officer", "trev": "trainer"}


def bomb_png(path: Path, side: int = SIDE) -> Path:
    """A valid 1-bit palette PNG of side x side black pixels, compressed row by row."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\0" * (1 + (side + 7) // 8)  # filter byte + packed bits
    block = 1000
    idat = b"".join(packer.compress(row * min(block, side - i)) for i in range(0, side, block))
    idat += packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 3, 0, 0, 0))
                     + chunk(b"PLTE", b"\0\0\0\xff\xff\xff") + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def memory_mb(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


@pytest.fixture(scope="module")
def app(tmp_path_factory, model_bundle, photos_root):
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc to read the server's peak memory")
    from bench.load_test import Server, password

    from gradio_client import Client, handle_file

    workdir = tmp_path_factory.mktemp("bombs")
    server = Server.fresh(model_bundle, photos_root, USERS, workdir)
    server.start()
    clients = {name: Client(server.url, auth=(name, password(name)), verbose=False,
                            httpx_kwargs={"timeout": 300}) for name in USERS}
    real = sorted((photos_root / "ivory_carving").iterdir())[0]
    small = workdir / "small.png"
    from PIL import Image
    Image.new("RGB", (40, 30), "white").save(small)
    # Warm up every path once with harmless files, so model, arenas and caches are loaded.
    clients["olga"].predict([handle_file(str(real))], handle_file(str(real)), api_name="/identify")
    clients["trev"].predict([handle_file(str(small))], "tiger", "test", "CC0", "", api_name="/trainer_upload")
    bombs = {}
    for side in (SIDE, 11_000):
        bomb = bomb_png(workdir / f"bomb-{side}.png", side)
        archive = workdir / f"photos-{side}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(bomb, f"field/bomb-{side}.png")
        bombs[side] = (bomb, archive)
    yield server, clients, bombs
    for client in clients.values():
        client.close()
    server.stop()


def identify_files(clients, bomb, archive):
    from gradio_client import handle_file

    return clients["olga"].predict([handle_file(str(bomb))], None, api_name="/identify")


def identify_camera(clients, bomb, archive):
    from gradio_client import handle_file

    return clients["olga"].predict(None, handle_file(str(bomb)), api_name="/identify")


def trainer_upload(clients, bomb, archive):
    from gradio_client import handle_file

    return clients["trev"].predict([handle_file(str(bomb))], "tiger", "test", "CC0", "",
                                   api_name="/trainer_upload")


def trainer_zip(clients, bomb, archive):
    from gradio_client import handle_file

    return clients["trev"].predict([handle_file(str(archive))], "tiger", "test", "CC0", "",
                                   api_name="/trainer_upload")


@pytest.mark.parametrize("side, megapixels", [(SIDE, 900), (11_000, 121)])
@pytest.mark.parametrize("send", [identify_files, identify_camera, trainer_upload, trainer_zip],
                         ids=lambda f: f.__name__)
def test_a_bomb_is_refused_clearly_with_bounded_memory(app, send, side, megapixels):
    from gradio_client.exceptions import AppError

    server, clients, bombs = app
    bomb, archive = bombs[side]
    pid = server.proc.pid
    reset_peak(pid)
    before = memory_mb(pid)["VmRSS"]
    try:
        out = send(clients, bomb, archive)
        message = str(out)  # the trainer upload answers with a verdict per file
    except AppError as err:
        message = str(err)
    grown = memory_mb(pid)["VmHWM"] - before
    print(f"{send.__name__} {side}x{side}: peak grew by {grown:.0f} MB")
    assert "decompression bomb" in message and f"{side}x{side} pixels ({megapixels} MP)" in message, message[:500]
    assert server.proc.poll() is None  # still serving
    assert grown < MAX_GROWTH_MB, f"{send.__name__}: peak grew by {grown:.0f} MB"


def test_the_photo_input_hands_over_bytes_never_decoded(tmp_path, monkeypatch):
    """The camera input's own preprocessing: a path passes through unopened; a data URL is
    written out as bytes; in both cases only `decode_image` will ever look inside."""
    import base64

    from gradio.data_classes import ImageData
    from PIL import Image

    from serve.ui.photo_input import photo_input

    bomb = bomb_png(tmp_path / "bomb.png", 11_000)
    image = photo_input(sources=["upload", "webcam"])

    def no_decoding(*args, **kwargs):
        raise AssertionError("the photo input must not open images")

    monkeypatch.setattr(Image, "open", no_decoding)
    assert image.preprocess(ImageData(path=str(bomb), orig_name="bomb.png")) == str(bomb)
    url = "data:image/png;base64," + base64.b64encode(bomb.read_bytes()).decode()
    saved = image.preprocess(ImageData(url=url))
    assert Path(saved).read_bytes() == bomb.read_bytes()
    assert image.preprocess(None) is None
