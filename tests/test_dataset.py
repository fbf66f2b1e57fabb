"""Folder scanning, deduplication and the hash split."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from species_data.dataset import Split, scan, split_of


def _photo(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(path)
    return path


def test_split_is_a_pure_function_of_the_hash_with_the_stated_proportions():
    import hashlib

    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(20000)]
    splits = [split_of(h) for h in hashes]
    assert splits == [split_of(h) for h in hashes]
    share = {s: splits.count(s) / len(splits) for s in Split}
    assert abs(share[Split.TEST] - 0.15) < 0.01 and abs(share[Split.VAL] - 0.15) < 0.01


def test_adding_photos_never_moves_an_old_photo(tmp_path):
    for i in range(30):
        _photo(tmp_path / "root" / ("a" if i % 2 else "b") / f"{i}.png", i)
    before = {p.sha256: p.split for p in scan([tmp_path / "root"]).photos}
    for i in range(30, 60):
        _photo(tmp_path / "root" / "a" / f"{i}.png", i)
    _photo(tmp_path / "root" / "c" / "new.png", 999)
    after = {p.sha256: p.split for p in scan([tmp_path / "root"]).photos}
    assert len(after) == 61
    assert all(after[h] is s for h, s in before.items())


def test_exact_duplicates_count_once_and_cross_class_duplicates_are_reported(tmp_path):
    a = _photo(tmp_path / "r" / "a" / "x.png", 1)
    shutil.copy(a, tmp_path / "r" / "a" / "x_copy.png")
    (tmp_path / "r" / "b").mkdir()
    shutil.copy(a, tmp_path / "r" / "b" / "same.png")
    _photo(tmp_path / "r" / "b" / "y.png", 2)
    (tmp_path / "r" / "b" / "notes.txt").write_text("not a photo")
    photo_set = scan([tmp_path / "r"])
    assert len(photo_set.photos) == 2
    reasons = dict(photo_set.skipped)
    assert "labelled 'a'" in reasons[str(tmp_path / "r" / "b" / "same.png")]
    assert "extension" in reasons[str(tmp_path / "r" / "b" / "notes.txt")]


def test_several_roots_and_class_filter(tmp_path):
    _photo(tmp_path / "r1" / "a" / "1.png", 1)
    _photo(tmp_path / "r2" / "a" / "2.png", 2)
    _photo(tmp_path / "r2" / "b" / "3.png", 3)
    assert scan([tmp_path / "r1", tmp_path / "r2"]).labels == ("a", "b")
    assert len(scan([tmp_path / "r1", tmp_path / "r2"], classes=["a"]).photos) == 2


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        scan([tmp_path / "nowhere"])


def test_manifest_hash_changes_with_content(tmp_path):
    _photo(tmp_path / "r" / "a" / "1.png", 1)
    h1 = scan([tmp_path / "r"]).manifest_hash()
    _photo(tmp_path / "r" / "a" / "2.png", 2)
    assert scan([tmp_path / "r"]).manifest_hash() != h1
