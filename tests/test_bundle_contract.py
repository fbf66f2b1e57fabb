"""The typed model contract: bundle.json round-trips with real types, and older bundles
(format 1, as data/models/v1 was written) still load and serve."""
from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
from pathlib import Path

import pytest

from species_data.catalogue import Appendix
from train.bundle import Bundle, BundleMeta
from train.bundle_meta import FORMAT_VERSION, Metrics, Training
from train.config import TrainingConfig, TrainingMode
from train.decision_rule import Thresholds
from train.metrics import SplitMetrics
from train.typed_json import from_json, to_json

ROOT = Path(__file__).resolve().parents[1]
LEGACY = ROOT / "tests" / "fixtures" / "bundle_v1_format1.json"


@pytest.fixture(scope="module")
def legacy() -> BundleMeta:
    return BundleMeta.from_dict(json.loads(LEGACY.read_text()))


def test_a_format_1_bundle_reads_as_typed_records(legacy):
    raw = json.loads(LEGACY.read_text())
    assert raw["format_version"] == 1 and raw["thresholds"]["group"] < 1  # as written
    assert legacy.format_version == FORMAT_VERSION
    assert isinstance(legacy.metrics, Metrics) and isinstance(legacy.metrics.test, SplitMetrics)
    assert legacy.metrics.test.top1 == raw["metrics"]["test"]["top1"]
    assert legacy.metrics.source_holdout.mean_recall == raw["metrics"]["source_holdout"]["mean_recall"]
    assert legacy.metrics.ood.held_out_operating_point.n_out == 169
    t = legacy.training
    assert isinstance(t, Training) and t.mode is TrainingMode.HEAD and t.l2 == 0.01
    assert t.details == {"seconds_embed": 25.7}
    cfg = t.config  # was {"data": "[PosixPath('../shared/photos')]", "classes": "None", "workers": "1", ...}
    assert cfg.data == [Path("../shared/photos")] and cfg.classes is None and cfg.max_steps is None
    assert cfg.workers == 1 and cfg.lp_ft is True and cfg.lr == 0.001 and cfg.ood_data == Path("../shared/photos_ood")
    assert t.ood_data == cfg.ood_data
    th = legacy.thresholds
    assert isinstance(th, Thresholds) and th.release == {}  # no release thresholds: never confirm a look-alike
    assert legacy.appendices["ivory_carving"] is Appendix.I and legacy.appendices["bone_carving"] is Appendix.NONE
    assert "ivory_carving" in legacy.lookalikes["bone_carving"]
    assert {"ivory_carving", "walrus_ivory_carving", "tiger"} <= legacy.protected


def test_placeholders_of_format_1_become_none():
    raw = json.loads(LEGACY.read_text())
    raw["thresholds"] = {"identify": 1.3, "group": 1.01, "ood": math.inf}
    meta = BundleMeta.from_dict(raw)
    assert meta.thresholds == Thresholds(identify=1.0, group=None, ood=None)


def test_format_2_round_trips_exactly(legacy):
    written = json.dumps(legacy.to_dict())
    again = BundleMeta.from_dict(json.loads(written))
    assert again == legacy
    assert json.dumps(again.to_dict()) == written


def test_training_config_round_trips_with_real_types():
    cfg = TrainingConfig(data=[Path("a"), Path("b c")], out=Path("data/models/x"), mode=TrainingMode.FINETUNE,
                         ood_data=None, catalogue_dirs=[Path("overlay")], classes=["tiger", "lion"], lr=3e-4,
                         max_steps=None, input_size=288, crop_pct=1.0, lp_ft=False)
    text = json.dumps(cfg.to_dict())
    assert '"None"' not in text and "PosixPath" not in text
    again = TrainingConfig.from_dict(json.loads(text))
    assert again == cfg
    assert isinstance(again.data[1], Path) and again.mode is TrainingMode.FINETUNE and again.input_size == 288


def test_unknown_or_mistyped_fields_are_named():
    with pytest.raises(ValueError, match="unknown field.*'lerning_rate'"):
        TrainingConfig.from_dict({"data": [], "out": "x", "lerning_rate": 1})
    with pytest.raises(ValueError, match=r"TrainingConfig\.workers.*not an integer"):
        TrainingConfig.from_dict({"data": [], "out": "x", "workers": "2"})
    with pytest.raises(ValueError, match="format 7"):
        BundleMeta.from_dict({"format_version": 7})


def test_a_bundle_folder_of_format_1_still_serves(model_bundle, tmp_path, photos_root):
    """data/models/v1 exactly as on disk (its format-1 bundle.json), loaded by the predictor."""
    from serve.identify.predictor import Predictor

    folder = tmp_path / "v1"
    folder.mkdir()
    for f in Path(model_bundle).iterdir():
        if f.is_file() and f.name != "bundle.json":
            (folder / f.name).symlink_to(f.resolve())
    shutil.copy(LEGACY, folder / "bundle.json")
    meta = Bundle.load(folder).meta
    if meta.labels != Bundle.load(model_bundle).meta.labels:
        pytest.skip("the fixture describes v1's 23 classes; this checkout's bundle has others")
    photo = next((photos_root / "bone_carving").iterdir())
    result = Predictor.load(folder).identify(photo)
    assert result.decision.kind.value in ("identified", "group", "cannot_rule_out", "unknown")
    assert result.decision.kind.value != "identified" or result.decision.label != "bone_carving"  # never released


def test_no_code_compares_with_the_string_none():
    """Only the format-1 readers may look for "None" (how old bundles wrote an absent value)."""
    allowed = {ROOT / "train" / "config.py", ROOT / "train" / "bundle_meta.py"}
    for path in list((ROOT / "train").glob("*.py")) + list((ROOT / "serve").rglob("*.py")):
        if path not in allowed:
            assert not re.search(r"""["']None["']""", path.read_text()), path


def test_every_record_in_the_contract_is_typed():
    """No `dict[str, Any]` left where code reads values (Training.details is for people)."""
    for record in (BundleMeta, Metrics, Training, TrainingConfig, Thresholds):
        for f in dataclasses.fields(record):
            if (record, f.name) != (Training, "details"):
                assert "Any" not in str(f.type), f"{record.__name__}.{f.name}: {f.type}"
    assert from_json(Metrics, to_json(BundleMeta.from_dict(json.loads(LEGACY.read_text())).metrics))
