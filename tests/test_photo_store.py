"""Content-addressed photo files: naming, idempotence, atomic writes, path safety."""
from __future__ import annotations

import hashlib
import os
import time

import pytest
from hypothesis import given, settings, strategies as st

from species_data import photo_store
from species_data.photo_store import PhotoStore, UnsafePath, sniff_ext

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _temps(root):
    return [p for p in root.rglob("*") if p.name.startswith(photo_store.TEMP_PREFIX)]


def test_put_stores_under_sha_with_sniffed_extension(tmp_path):
    store = PhotoStore(tmp_path)
    sha = store.put(JPEG, "JPEG")
    assert sha == hashlib.sha256(JPEG).hexdigest()
    assert store.path(sha) == tmp_path / sha[:2] / f"{sha}.jpg"
    assert store.path(sha).read_bytes() == JPEG and store.exists(sha) and sha in store
    with store.open(sha) as f:
        assert f.read() == JPEG
    assert store.verify(sha)
    assert store.path(store.put(PNG)).suffix == ".png"


def test_put_is_idempotent_and_leaves_no_temp_files(tmp_path):
    store = PhotoStore(tmp_path)
    sha = store.put(JPEG, "jpg")
    first = store.path(sha).stat()
    time.sleep(0.01)
    assert store.put(JPEG, ".jpg") == sha and store.put(JPEG) == sha
    assert store.path(sha).stat().st_mtime_ns == first.st_mtime_ns  # not rewritten
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{sha}.jpg"]
    assert _temps(tmp_path) == []


def test_failed_write_leaves_neither_photo_nor_temp(tmp_path, monkeypatch):
    store = PhotoStore(tmp_path)

    def crash(*_a, **_k):
        raise OSError("disk pulled out")

    monkeypatch.setattr(photo_store.os, "replace", crash)
    with pytest.raises(OSError, match="disk pulled out"):
        store.put(JPEG)
    sha = hashlib.sha256(JPEG).hexdigest()
    assert not store.exists(sha) and _temps(tmp_path) == []


def test_temp_left_by_a_kill_is_invisible_and_swept(tmp_path):
    store = PhotoStore(tmp_path)
    sha = hashlib.sha256(JPEG).hexdigest()
    (tmp_path / sha[:2]).mkdir()
    leftover = tmp_path / sha[:2] / f"{photo_store.TEMP_PREFIX}abc.part"
    leftover.write_bytes(JPEG[:10])  # half-written, as after SIGKILL mid-write
    assert not store.exists(sha)
    assert store.sweep_temp(older_than_s=3600) == 0 and leftover.exists()  # too young
    old = time.time() - 7200
    os.utime(leftover, (old, old))
    PhotoStore(tmp_path)  # opening sweeps stale temps
    assert not leftover.exists()
    assert store.path(store.put(JPEG)).read_bytes() == JPEG


@pytest.mark.parametrize("name", ["../../etc/passwd", "a" * 63, "g" * 64, "", None,
                                  "a" * 64 + "/../x", "/" + "a" * 63])
def test_names_that_are_not_sha256_are_refused(tmp_path, name):
    store = PhotoStore(tmp_path)
    for call in (store.path, store.exists, store.open, store.find):
        with pytest.raises(UnsafePath, match="not a photo name"):
            call(name)


def test_symlink_escaping_root_is_refused(tmp_path):
    root, outside = tmp_path / "photos", tmp_path / "elsewhere"
    outside.mkdir()
    store = PhotoStore(root)
    sha = hashlib.sha256(JPEG).hexdigest()
    (root / sha[:2]).symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePath, match="outside the photo store"):
        store.put(JPEG)
    with pytest.raises(UnsafePath):
        store.exists(sha)
    assert list(outside.iterdir()) == []


def test_content_not_filename_decides(tmp_path):
    store = PhotoStore(tmp_path)
    with pytest.raises(ValueError, match="claims to be 'png' but its content is jpg"):
        store.put(JPEG, "png")
    with pytest.raises(ValueError, match="not accepted"):
        store.put(JPEG, "exe")
    with pytest.raises(ValueError, match="not a recognised image"):
        store.put(b"MZ\x90\x00 this is a program", None)
    with pytest.raises(ValueError, match="empty"):
        store.put(b"")
    with pytest.raises(ValueError, match="limit"):
        PhotoStore(tmp_path, max_bytes=100).put(JPEG)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_missing_photo_is_a_clear_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="a{64}"):
        PhotoStore(tmp_path).path("A" * 64)


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=1, max_size=2048))
def test_any_jpeg_bytes_round_trip(tmp_path_factory, body):
    store = PhotoStore(tmp_path_factory.mktemp("p"))
    data = b"\xff\xd8\xff" + body
    assert sniff_ext(data) == "jpg"
    assert store.path(store.put(data)).read_bytes() == data
