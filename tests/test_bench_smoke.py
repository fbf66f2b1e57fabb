"""The benchmark scripts in bench/ run in their short forms and print their tables.

No timing is asserted (the machine is shared): only that each script runs end to end
on the real bundle and photos and reports every target it promises.
"""
from __future__ import annotations

import pytest

from bench import common as c

pytestmark = pytest.mark.model

def test_table_is_markdown_with_aligned_columns():
    text = c.table(("a", "long header"), [(1, "x"), ("wide cell", 2.5)])
    lines = text.splitlines()
    assert lines[0].startswith("| a ") and lines[1].startswith("|--")
    assert len({len(line) for line in lines}) == 1, text


def test_target_verdicts_follow_the_direction():
    assert c.target("latency", 19.0, "ms", 20).ok
    assert not c.target("latency", 21.0, "ms", 20).ok
    assert c.target("throughput", 130, "photos/s", 120, smaller_is_better=False).ok
    assert "MISSES" in c.targets_table([c.target("t", 2.0, "x", 1.5)])


def test_big_jpeg_is_phone_sized_and_outside_the_repo(tmp_path, photos_root):
    from PIL import Image

    path = c.make_big_jpeg(tmp_path, photos=photos_root)
    assert c.ROOT not in path.parents
    with Image.open(path) as im:
        assert im.size == c.BIG_SIZE and im.format == "JPEG"


@pytest.mark.parametrize("name, targets", [
    ("identify_latency", 2),
    ("forward_floor", 2),
    ("batch_throughput", 1),
    ("embedding_throughput", 2),
    ("update_estimate", 3),
    pytest.param("serving_memory", 2, marks=pytest.mark.browser),  # the real app, driven by Chromium
])
def test_script_runs_quick_and_reports_its_targets(name, targets, capsys, model_bundle, photos_root):
    import importlib

    module = importlib.import_module(f"bench.{name}")
    report = module.main(["--quick", "--bundle", str(model_bundle), "--photos", str(photos_root)])
    out = capsys.readouterr().out
    assert report.title in out and "| target" in out
    assert len(report.targets) == targets
    assert all(t.ok is not None for t in report.targets), report.targets
    # correctness targets (not timings) must hold even on a busy machine
    assert all(t.ok for t in report.targets if "matches torch" in t.name), report.targets


def test_fit_times_quick_runs_both_fits(capsys, photos_root):
    from bench import fit_times

    report = fit_times.main(["--quick", "--photos", str(photos_root)])
    out = capsys.readouterr().out
    assert "fit, re-run (cache warm)" in out and "fit_head threads" in out
    names = [t.name for t in report.targets]
    assert names[:2] == ["fit first run (empty cache)", "fit re-run (cached)"]


def test_run_all_ends_with_one_table_of_targets_and_writes_json(capsys, model_bundle, photos_root, tmp_path):
    import json

    from bench import run_all

    targets = run_all.main(["--quick", "--only", "batch_throughput", "--bundle", str(model_bundle),
                            "--photos", str(photos_root), "--json-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert out.count("## All targets") == 1 and "batch identification" in out
    assert [t.name for t in targets] == ["batch identification over ../shared/photos"]
    written = json.loads((tmp_path / "batch_throughput.json").read_text())
    assert written["quick"] and written["targets"][0]["value"] == targets[0].value


def test_preprocessing_cv_quick_compares_each_config_with_the_first(capsys, photos_root, tmp_path):
    from bench import preprocessing_cv

    report = preprocessing_cv.main(["--quick", "--photos", str(photos_root), "--data-dir", str(tmp_path),
                                    "--configs", "96:0.875", "96:1.0"])
    rows = [line for line in report.table.splitlines() if line.startswith("| 96 px")]
    assert len(rows) == 2 and "baseline" in rows[0] and "p = " in rows[1]
    cv_top1 = float(rows[0].split("|")[2])
    assert 0.3 < cv_top1 <= 1.0  # 23 classes: chance is ~0.04
    assert len(list(tmp_path.glob("embeddings/*-96-crop*"))) == 2  # one cache per preprocessing


def test_accuracy_cv_quick_scores_levers_against_v1_with_intervals(capsys, photos_root, tmp_path):
    """The selection protocol's bench in its short form (cached features only, one repeat)."""
    import json

    from bench import accuracy_cv

    out = tmp_path / "levers.json"
    report = accuracy_cv.main(["--quick", "--no-latency", "--photos", str(photos_root), "--json", str(out)])
    record = json.loads(out.read_text())
    assert set(record["candidates"]) == set(accuracy_cv.QUICK) and record["default"] == "default"
    v1 = record["candidates"]["default"]["estimates"]
    for measure in ("top1", "ivory5", "released", "heldout", "ood_at_budget"):
        e = v1[measure]
        assert e["low"] <= e["value"] <= e["high"], (measure, e)
    assert 0.3 < v1["top1"]["value"] <= 1.0
    other = record["candidates"]["v1"]
    assert {"top1", "ivory5", "released", "heldout"} <= set(other["tests"]) and other["verdict"]
    assert "McNemar against default" in report.table


def test_finetune_throughput_quick_trains_and_reports_images_per_second(capsys, photos_root):
    from bench import finetune_throughput

    report = finetune_throughput.main(["--quick", "--photos", str(photos_root)])
    row = next(line for line in report.table.splitlines() if line.startswith("| cpu"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2] == "float32" and cells[5] == "2"  # full precision on CPU; the two quick steps ran
    assert float(cells[6]) > 0
