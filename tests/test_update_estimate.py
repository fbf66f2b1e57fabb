"""The reading speed behind the quick update's estimate (train.update_estimate): measured
runs only, a running mean that a short run cannot erase, a default until measured."""
from __future__ import annotations

import pytest

from train.embeddings import EmbeddingCache
from train.update_estimate import (DEFAULT_SECONDS_PER_PHOTO, FIXED_SECONDS, REMEMBERED_PHOTOS, SPEED_FILE,
                                   Estimate, fixed_seconds, record_fixed, record_speed, seconds_per_photo)


@pytest.fixture
def cache(tmp_path):
    return EmbeddingCache(tmp_path / "embeddings" / "backbone")


def test_nothing_measured_gives_the_default(cache):
    assert seconds_per_photo(cache) == (DEFAULT_SECONDS_PER_PHOTO, False)
    record_speed(cache, 5, 1.0)  # too few photos to measure a speed
    assert not (cache.root / SPEED_FILE).exists()


def test_a_short_run_moves_the_speed_of_a_long_one_only_a_little(cache):
    record_speed(cache, 2000, 20.0)
    assert seconds_per_photo(cache) == (pytest.approx(0.01), True)
    record_speed(cache, 40, 4.0)  # 0.1 s a photo on a busy moment
    speed, _ = seconds_per_photo(cache)
    assert speed == pytest.approx((0.01 * REMEMBERED_PHOTOS + 4.0) / (REMEMBERED_PHOTOS + 40), rel=1e-3)


def test_a_slower_machine_shows_through(cache):
    record_speed(cache, 3000, 30.0)
    for _ in range(5):
        record_speed(cache, 1000, 50.0)  # the data folder moved to a slower computer
    assert seconds_per_photo(cache)[0] > 0.045


def test_a_damaged_speed_file_is_not_trusted(cache):
    cache.root.mkdir(parents=True)
    (cache.root / SPEED_FILE).write_text('{"seconds_per_photo": -1}')
    assert seconds_per_photo(cache) == (DEFAULT_SECONDS_PER_PHOTO, False)
    record_speed(cache, 100, 2.0)
    assert seconds_per_photo(cache) == (pytest.approx(0.02), True)


def test_the_rest_of_an_update_is_measured_too_and_kept_beside_the_speed(cache):
    assert fixed_seconds(cache) == FIXED_SECONDS  # nothing measured yet
    record_speed(cache, 100, 2.0)
    record_fixed(cache, 3.2)  # the last update's fitting, out-of-fold calibration and writing
    assert fixed_seconds(cache) == pytest.approx(3.2) and seconds_per_photo(cache) == (pytest.approx(0.02), True)
    record_speed(cache, 100, 2.0)  # a later reading run keeps it
    assert fixed_seconds(cache) == pytest.approx(3.2)
    plan = Estimate(photos=500, to_read=100, seconds_per_photo=0.02, measured=True, fixed_seconds=fixed_seconds(cache))
    assert plan.seconds == pytest.approx(3.2 + 100 * 0.02)
