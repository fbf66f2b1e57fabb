"""Numbers that cannot drift: the README's tables and the published cards are what their
sources say (model_cards/<version>.json, bench/results/*.json), and those sources are what
the local bundle says when it is the same model."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from train.bundle import Bundle, BundleMeta
from train.card import render
from train.typed_json import to_json

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = sorted((ROOT / "model_cards").glob("*.json"))


def _script():
    spec = importlib.util.spec_from_file_location("write_numbers", ROOT / "scripts" / "write_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_tables_are_written_from_their_sources():
    numbers = _script()
    assert numbers.main(["--check"]) == 0, "run python scripts/write_numbers.py"


def test_the_check_fails_on_a_number_typed_by_hand():
    numbers = _script()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    generated = numbers.blocks()
    body = generated["model"]
    assert body in text
    tampered = text.replace(body, body.replace("| test top-1", "| test top-1 (typed) ", 1))
    assert numbers.rewrite(tampered, generated) == text != tampered


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda p: p.stem)
def test_published_card_is_rendered_from_its_snapshot(snapshot):
    meta = BundleMeta.from_dict(json.loads(snapshot.read_text()))
    bundle = Bundle(ROOT / "data" / "models" / meta.version, meta)
    assert (snapshot.with_suffix(".md")).read_text() == render(bundle, ROOT / "model_cards"), (
        f"model_cards/{meta.version}.md differs from its metadata: republish it "
        f"(python -m train publish {meta.version} --card-dir model_cards)")


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda p: p.stem)
def test_the_local_bundle_of_a_published_version_agrees_with_its_card(snapshot):
    published = BundleMeta.from_dict(json.loads(snapshot.read_text()))
    local = ROOT / "data" / "models" / published.version / "bundle.json"
    if not local.exists():
        pytest.skip(f"no local bundle {published.version}")
    if json.loads(local.read_text()).get("format_version") == 1:
        pytest.skip(f"data/models/{published.version} was written before the typed contract: re-fit it to compare")
    meta = Bundle.load(local.parent).meta
    if meta.data_manifest != published.data_manifest:
        pytest.skip(f"the local {published.version} was trained on other photos")
    for part in ("thresholds", "temperature", "metrics"):
        assert to_json(getattr(meta, part)) == to_json(getattr(published, part)), (
            f"data/models/{published.version} and model_cards/{published.version}.json disagree on {part}: "
            f"republish (python -m train publish {published.version} --card-dir model_cards) and run "
            "python scripts/write_numbers.py")
