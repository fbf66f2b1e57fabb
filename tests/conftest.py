"""Shared fixtures: the real photo folder and a model bundle (the published default one,
or a tiny 4-class bundle fitted once per test session when it is missing)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "photos"
DEFAULT_BUNDLE = ROOT / "data" / "models" / "v1"
TINY_CLASSES = ["elephant", "ivory_carving", "lion", "tiger"]


@pytest.fixture(scope="session")
def photos_root() -> Path:
    if not PHOTOS.is_dir():
        pytest.skip(f"real photos not found at {PHOTOS}")
    return PHOTOS


@pytest.fixture(scope="session")
def model_bundle(photos_root, tmp_path_factory) -> Path:
    """A loadable bundle folder: data/models/v1 if present, else a tiny one fitted now."""
    if (DEFAULT_BUNDLE / "bundle.json").exists():
        return DEFAULT_BUNDLE
    from train.config import TrainingConfig
    from train.fit import fit

    out = tmp_path_factory.mktemp("models") / "tiny"
    bundle = fit(TrainingConfig(data=[photos_root], out=out, classes=TINY_CLASSES,
                                data_dir=ROOT / "data", card_dir=None, progress=False))
    return bundle.path


@pytest.fixture
def data_dir(tmp_path, model_bundle) -> Path:
    """An empty data folder whose models/current points at the test bundle."""
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    os.symlink(model_bundle, models / "current")
    return tmp_path / "data"


# --- databases: SQLite always, PostgreSQL in the `postgres` tier ------------------------

@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the whole session (scripts/postgres_throwaway.sh).
    Skipped where PostgreSQL is not installed, except in CI, where that is a failure."""
    from bench.postgres_server import PostgresServer, installed

    if not installed():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run installs it "
                        "(scripts/postgres_throwaway.sh install)")
        pytest.skip("PostgreSQL not installed: scripts/postgres_throwaway.sh install")
    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """An empty records database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/records.db"
    return request.getfixturevalue("postgres_server").new_database()
