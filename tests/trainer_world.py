"""A small real world for the trainer tests: a 3-class bundle fitted on ~70 real photos
(its own embedding cache), and 20 photos of a class it has never seen. Built once per
test session; each test copies it (`fresh_world`) before changing anything."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "photos"
BASE_CLASSES = ("elephant", "giant_panda", "hard_coral")
NEW_CLASS = "seahorse"
PER_CLASS = 24
NEW_PHOTOS = 20

_BUILT: dict[str, "World"] = {}


@dataclass(frozen=True)
class World:
    root: Path
    photos: Path  # <class>/<file> symlinks of the base classes
    data_dir: Path  # embeddings/, models/v1, models/current -> v1
    new_photos: tuple  # species_data Photo records of NEW_CLASS (at least 4 held out)

    @property
    def models(self) -> Path:
        return self.data_dir / "models"


def _pick(photos, n: int, held_out_min: int):
    """`held_out_min` photos of the val/test splits, the rest from train."""
    from species_data.dataset import Split

    held = [p for p in photos if p.split is not Split.TRAIN][:held_out_min]
    train = [p for p in photos if p.split is Split.TRAIN]
    return tuple(held + train[: n - len(held)])


def build_world(tmp_path_factory) -> World:
    if "world" in _BUILT:
        return _BUILT["world"]
    if not PHOTOS.is_dir():
        pytest.skip(f"real photos not found at {PHOTOS}")
    from species_data.dataset import scan
    from train.bundle import publish
    from train.config import TrainingConfig
    from train.fit import fit

    root = tmp_path_factory.mktemp("trainer-world")
    tree = root / "photos"
    every = scan([PHOTOS], list(BASE_CLASSES) + [NEW_CLASS])
    for label in BASE_CLASSES:
        (tree / label).mkdir(parents=True)
        for p in _pick([p for p in every.photos if p.label == label], PER_CLASS, held_out_min=8):
            os.symlink(p.path, tree / label / p.path.name)
    new = _pick([p for p in every.photos if p.label == NEW_CLASS], NEW_PHOTOS, held_out_min=6)
    data = root / "data"
    _seed_cache(data, scan([tree]).photos)
    fit(TrainingConfig(data=[tree], out=data / "models" / "v1", data_dir=data, card_dir=None, progress=False))
    publish(data / "models", "v1")
    _BUILT["world"] = World(root, tree, data, new)
    return _BUILT["world"]


def _seed_cache(data: Path, photos) -> None:
    """Copy the base photos' vectors from the repository's embedding cache when it has them
    (content-addressed, so identical to recomputing); the new class is never seeded."""
    from train.embeddings import EmbeddingCache

    mine = EmbeddingCache.for_backbone(data, "tf_efficientnet_lite0")
    shared = EmbeddingCache.for_backbone(ROOT / "data", "tf_efficientnet_lite0")
    for p in photos:
        if shared.path(p.sha256).is_file():
            mine.path(p.sha256).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shared.path(p.sha256), mine.path(p.sha256))


def fresh_world(tmp_path: Path, world: World) -> World:
    """A private copy of the data folder (bundle, embeddings) to change freely."""
    data = tmp_path / "data"
    shutil.copytree(world.data_dir, data, symlinks=True)
    return World(world.root, world.photos, data, world.new_photos)


def npy_count(data_dir: Path) -> int:
    return sum(1 for _ in (Path(data_dir) / "embeddings").rglob("*.npy"))
