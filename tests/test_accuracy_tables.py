"""The README's accuracy tables are the benchmark and bundle JSON, never typed by hand."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import accuracy_tables as at  # noqa: E402


def test_the_readme_block_is_what_the_json_says():
    assert at.main(["--check"]) == 0, "run: python scripts/accuracy_tables.py"


def test_every_lever_and_its_verdict_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    levers = json.loads(at.LEVERS.read_text())
    block = readme.split(at.BEGIN, 1)[1].split(at.END, 1)[0]
    for name, lever in levers["candidates"].items():
        assert f"| {name} |" in block and lever["verdict"] in block
    default = levers["candidates"][levers["default"]]["estimates"]["top1"]
    assert f"{default['value']:.3f} [{default['low']:.3f}, {default['high']:.3f}]" in block


def test_a_changed_number_makes_the_check_fail(tmp_path, monkeypatch):
    changed = json.loads(at.MODEL.read_text())
    changed["test"]["top1"] = 0.123456
    fake = tmp_path / "default_model.json"
    fake.write_text(json.dumps(changed))
    monkeypatch.setattr(at, "MODEL", fake)
    assert at.main(["--check"]) == 1
