"""species_data.ingest (the one way photos come in), zipimport.is_zip (the one zip test)
and species_data.atomic (the one atomic write)."""
from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from species_data.atomic import atomic_write, write_bytes_atomic, write_text_atomic
from species_data.ingest import IngestError, IngestLimits, admit, collect, quality_gate
from species_data.photo_store import PhotoStore
from species_data.quality import VerdictCode
from species_data.zipimport import is_zip


def png(seed: int, side: int = 160) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def test_is_zip_by_bytes_by_name_and_never_a_device(tmp_path):
    archive = zipped({"a.png": png(0)})
    assert is_zip(archive) and not is_zip(png(0)) and not is_zip(b"")
    (tmp_path / "photos").write_bytes(archive)  # no extension: the bytes say zip
    (tmp_path / "broken.zip").write_bytes(b"not really")  # the name says zip: refused later, with a reason
    (tmp_path / "a.png").write_bytes(png(0))
    assert is_zip(tmp_path / "photos") and is_zip(tmp_path / "broken.zip") and not is_zip(tmp_path / "a.png")
    assert not is_zip(tmp_path / "missing") and not is_zip(Path("/dev/null"))


def test_collect_reads_files_folders_and_archives(tmp_path):
    (tmp_path / "one.png").write_bytes(png(1))
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "two.png").write_bytes(png(2))
    (folder / ".hidden.png").write_bytes(png(3))
    (folder / "notes.txt").write_text("x")
    (tmp_path / "box.zip").write_bytes(zipped({"three.png": png(4), "readme.txt": b"hello"}))
    got = collect([("one.png", tmp_path / "one.png"), ("folder", folder), ("box.zip", tmp_path / "box.zip")])
    assert [name for name, _ in got.items] == ["one.png", "folder/sub/two.png", "box.zip/three.png"]
    assert got.items[2][1] == png(4)
    assert [(v.name, v.code) for v in got.skipped] == [("box.zip/readme.txt", VerdictCode.NOT_AN_IMAGE)]


def test_collect_refuses_too_many_or_too_large_uploads(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(png(i))
    sources = [(f"{i}.png", tmp_path / f"{i}.png") for i in range(3)]
    with pytest.raises(IngestError) as too_many:
        collect(sources, IngestLimits(max_files=2))
    assert too_many.value.code == "too_many" and too_many.value.params == {"limit": 2}
    with pytest.raises(IngestError) as too_big:
        collect(sources, IngestLimits(max_total_bytes=2 * len(png(0)) + 1))
    assert too_big.value.code == "too_big"


def test_admit_stores_accepted_photos_and_reports_a_lost_race_as_duplicate(tmp_path):
    store = PhotoStore(tmp_path / "photos")
    recorded = []
    items = [("a.png", png(5)), ("a again.png", png(5)), ("tiny.png", png(6, side=40)), ("b.png", png(7))]

    def register(sha, verdict, ext):
        recorded.append((sha, verdict.width, ext))
        return verdict.name != "b.png"  # b was recorded by a concurrent upload

    verdicts = admit(items, "tiger", quality_gate([]), store, register)
    assert [v.code for v in verdicts] == [VerdictCode.ACCEPTED, VerdictCode.DUPLICATE, VerdictCode.TOO_SMALL,
                                          VerdictCode.DUPLICATE]
    assert [w for _, w, _ in recorded] == [160, 160] and all(ext == "png" for _, _, ext in recorded)
    assert store.find(verdicts[0].sha256) is not None


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "deep" / "card.md"
    write_text_atomic(target, "old")
    os.chmod(target, 0o640)
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w", encoding="utf-8") as fh:
            fh.write("half of the new")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["card.md"]  # no temporary file left
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o640  # mode kept
    fresh = write_text_atomic(tmp_path / "fresh.txt", "x", durable=False)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    with pytest.raises(ValueError, match="mode 'rb'"):
        with atomic_write(target, "rb"):
            pass
