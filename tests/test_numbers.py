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


def test_every_lever_of_the_accuracy_protocol_and_its_verdict_is_in_the_readme():
    numbers = _script()
    levers = numbers.bench("accuracy_cv")
    block = numbers.blocks()["accuracy"]
    assert block in (ROOT / "README.md").read_text(encoding="utf-8")
    for name, lever in levers["candidates"].items():
        assert f"| {name} |" in block and lever["verdict"] in block
    top1 = levers["candidates"][levers["default"]]["estimates"]["top1"]
    assert f"{top1['value']:.3f} [{top1['low']:.3f}, {top1['high']:.3f}]" in block


def test_a_changed_benchmark_number_makes_the_check_fail(monkeypatch):
    numbers = _script()
    real = numbers.bench

    def changed(name):
        report = real(name)
        if name == "accuracy_cv":
            first = next(iter(report["candidates"].values()))
            first["estimates"]["top1"]["value"] = 0.123456
        return report

    monkeypatch.setattr(numbers, "bench", changed)
    assert numbers.main(["--check"]) == 1


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
    same_fit = meta.created_at == published.created_at
    for part in ("thresholds", "temperature", "metrics"):
        local_part, card_part = to_json(getattr(meta, part)), to_json(getattr(published, part))
        # the very bundle that was published agrees exactly; a re-fit of the same recipe on the same
        # photos (CI fits its own v1) agrees up to another CPU's floating-point rounding
        assert local_part == card_part if same_fit else _close(local_part, card_part), (
            f"data/models/{published.version} and model_cards/{published.version}.json disagree on {part}: "
            f"republish (python -m train publish {published.version} --card-dir model_cards) and run "
            "python scripts/write_numbers.py")


def _close(a, b, path="") -> bool:
    """Equal structure; numbers within 0.01 absolute, or 2 % relative (counts of photos near a threshold)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], f"{path}.{k}") for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a, b)))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return a == b or abs(a - b) <= 0.01 or abs(a - b) <= 0.02 * max(abs(a), abs(b))
    return a == b


def test_a_refit_is_compared_with_a_tolerance_that_still_catches_a_stale_card():
    assert _close({"t": 0.9641, "n": [421, 3]}, {"t": 0.9652, "n": [421, 3]})
    assert not _close({"t": 0.964}, {"t": 0.990})  # another temperature: a different model
    assert not _close({"n": [421]}, {"n": [380]})
    assert not _close({"method": "knn"}, {"method": "energy"})
