"""The upload quality gate: decodable, big enough, not a copy (exact or near) of a known photo."""
from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from serve.i18n import t
from species_data import quality
from species_data.quality import KnownPhoto, PhashCache, QualityGate, UploadVerdict, VerdictCode, phash_hex


def smooth_image(seed: int, size=(240, 180)) -> Image.Image:
    """A smooth random picture (low frequencies dominate, like a photo), distinct per seed."""
    rng = np.random.default_rng(seed)
    small = (rng.random((6, 8, 3)) * 255).astype(np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


def jpeg(image: Image.Image, quality_: int = 92) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality_)
    return buf.getvalue()


def known(data: bytes, label: str, removed: bool = False) -> KnownPhoto:
    from species_data.images import decode_image

    return KnownPhoto(hashlib.sha256(data).hexdigest(), label, phash_hex(decode_image(data).image), removed)


@pytest.fixture
def leopard_photo() -> bytes:
    return jpeg(smooth_image(1))


def test_distinct_pictures_are_far_apart_in_phash():
    a, b = phash_hex(smooth_image(1)), phash_hex(smooth_image(2))
    assert len(a) == 16 and (int(a, 16) ^ int(b, 16)).bit_count() > quality.DEFAULT_MAX_DISTANCE


def test_a_new_photo_is_accepted_with_its_hashes_and_size(leopard_photo):
    data = jpeg(smooth_image(7))
    v = QualityGate([known(leopard_photo, "leopard")]).check("new.jpg", data, "tiger")
    assert v.code is VerdictCode.ACCEPTED and v.accepted
    assert v.sha256 == hashlib.sha256(data).hexdigest() and len(v.phash) == 16
    assert (v.width, v.height, v.format) == (240, 180, "JPEG") and v.duplicate_of is None


def test_exact_duplicate_in_the_same_class(leopard_photo):
    v = QualityGate([known(leopard_photo, "leopard")]).check("again.jpg", leopard_photo, "leopard")
    assert v.code is VerdictCode.DUPLICATE and not v.accepted
    assert v.duplicate_of == (hashlib.sha256(leopard_photo).hexdigest(), "leopard")


def test_exact_duplicate_of_another_class_names_that_class(leopard_photo):
    v = QualityGate([known(leopard_photo, "leopard")]).check("tiger1.jpg", leopard_photo, "tiger")
    assert v.code is VerdictCode.DUPLICATE_OTHER_CLASS and not v.accepted
    assert v.other_class == "leopard"
    assert "leopard" in t(f"trainer.verdict.{v.code.value}", "en", **v.message_params())


def test_near_duplicate_of_another_class_names_that_class(leopard_photo):
    resized = jpeg(smooth_image(1).resize((200, 150), Image.Resampling.BILINEAR), quality_=60)
    assert resized != leopard_photo
    v = QualityGate([known(leopard_photo, "leopard")]).check("tiger2.jpg", resized, "tiger")
    assert v.code is VerdictCode.NEAR_DUPLICATE_OTHER_CLASS and not v.accepted
    assert v.other_class == "leopard" and v.duplicate_of[0] == hashlib.sha256(leopard_photo).hexdigest()
    assert 0 <= v.params["distance"] <= quality.DEFAULT_MAX_DISTANCE
    same_class = QualityGate([known(leopard_photo, "leopard")]).check("l2.jpg", resized, "leopard")
    assert same_class.code is VerdictCode.NEAR_DUPLICATE and same_class.other_class is None
    strict = QualityGate([known(leopard_photo, "leopard")], max_distance=0).check("x.jpg", resized, "tiger")
    assert strict.accepted or v.params["distance"] == 0  # the distance is configurable


def test_too_small_is_refused_and_the_minimum_is_configurable():
    small = jpeg(smooth_image(3, size=(80, 60)))
    v = QualityGate().check("small.jpg", small, "tiger")
    assert v.code is VerdictCode.TOO_SMALL and not v.accepted
    assert (v.width, v.height, v.params["min_side"]) == (80, 60, 96)
    assert "96" in t("trainer.verdict.too_small", "en", **v.message_params())
    assert QualityGate(min_side=50).check("small.jpg", small, "tiger").accepted


@pytest.mark.parametrize("data", [b"", b"hello, not a picture", b"\xff\xd8\xff\xe0" + b"\x00" * 40])
def test_not_an_image_is_refused_with_a_reason(data):
    v = QualityGate().check("photo.jpg", data, "tiger")
    assert v.code is VerdictCode.NOT_AN_IMAGE and not v.accepted and v.sha256 == ""
    assert v.params["reason"]


def test_a_truncated_jpeg_is_not_an_image():
    data = jpeg(smooth_image(4))
    v = QualityGate().check("cut.jpg", data[: len(data) // 3], "tiger")
    assert v.code is VerdictCode.NOT_AN_IMAGE


def test_a_batch_keeps_one_copy_of_a_repeated_photo():
    a, b = jpeg(smooth_image(5)), jpeg(smooth_image(6))
    verdicts = QualityGate().check_many([("a.jpg", a), ("b.jpg", b), ("a-copy.jpg", a)], "tiger")
    assert [v.code for v in verdicts] == [VerdictCode.ACCEPTED, VerdictCode.ACCEPTED, VerdictCode.DUPLICATE]
    assert verdicts[2].duplicate_of == (verdicts[0].sha256, "tiger")
    assert quality.summarise(verdicts) == {"accepted": 2, "duplicate": 1}


def test_a_removed_photo_is_not_silently_uploaded_again(leopard_photo):
    v = QualityGate([known(leopard_photo, "tiger", removed=True)]).check("x.jpg", leopard_photo, "tiger")
    assert v.code is VerdictCode.PREVIOUSLY_REMOVED and not v.accepted


def test_every_verdict_code_has_an_english_message():
    for code in VerdictCode:
        v = UploadVerdict("f.jpg", code, code is VerdictCode.ACCEPTED, duplicate_of=("a" * 64, "lion"),
                          params={"reason": "r", "min_side": 96, "distance": 3, "max_distance": 6})
        assert t(f"trainer.verdict.{code.value}", "en", **v.message_params()).strip()


def test_phash_cache_computes_once_and_reads_back(tmp_path, monkeypatch):
    path = tmp_path / "p.jpg"
    path.write_bytes(jpeg(smooth_image(8)))
    cache_file = tmp_path / "phash.json"
    first = PhashCache(cache_file).get_many([("s" * 64, path), ("t" * 64, tmp_path / "missing.jpg")])
    assert len(first["s" * 64]) == 16
    assert first["t" * 64] is None and cache_file.is_file()
    monkeypatch.setattr(quality, "phash_file", lambda p: pytest.fail("recomputed a cached hash"))
    assert PhashCache(cache_file).get_many([("s" * 64, path)]) == {"s" * 64: first["s" * 64]}
    cache_file.write_text("{broken")
    monkeypatch.undo()
    assert PhashCache(cache_file).get_many([("s" * 64, path)])["s" * 64] == first["s" * 64]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="min_side"):
        QualityGate(min_side=0)
    with pytest.raises(ValueError, match="max_distance"):
        QualityGate(max_distance=64)
