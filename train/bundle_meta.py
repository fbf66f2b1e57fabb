"""The model contract: what `bundle.json` holds, as typed records training and serving share.

Why: the bundle's metrics and training record used to be `dict[str, Any]` read through
string keys, with the configuration stringified. Here every part is a dataclass or an
enum and round-trips through JSON with its types (`train.typed_json`), so a reader knows
which fields exist and a run can be repeated from its bundle.

    BundleMeta: architecture, labels, preprocessing, temperature, `Thresholds`, groups and
        the catalogue snapshot the decision rule needs, `Metrics`, `Training`, data hashes.
    Metrics: per-split `SplitMetrics`, decision shares, release policy, out-of-catalogue
        report, reliability, held-out sources, new classes (quick update).
    Training: mode, `TrainingConfig`, timings, plus mode-specific numbers for people.

Format 2 is written; format 1 (before the contract was typed) is read by `_from_format_1`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from species_data.catalogue import Appendix

from .class_cv import ClassRecall
from .selection import Estimate
from .config import TrainingConfig, TrainingMode
from .decision_rule import DecisionKind, DecisionRule, Thresholds
from .metrics import Reliability, SplitMetrics
from .preprocess import Preprocessing
from .release import FamilyRelease, ReleaseReport
from .typed_json import from_json, to_json

FORMAT_VERSION = 2


@dataclass(frozen=True)
class DecisionShares:
    """Share of photos ending in each decision kind under the served rule."""

    identified: float
    group: float
    unknown: float
    n: int
    cannot_rule_out: float = 0.0

    def of(self, kind: DecisionKind) -> float:
        return getattr(self, kind.value)


@dataclass(frozen=True)
class OperatingPoint:
    """Out-of-catalogue threshold re-read on held-out photos at an in-catalogue UNKNOWN budget."""

    in_catalogue_unknown: float
    out_of_catalogue_unknown: float
    budget: float
    n_in: int
    n_out: int


@dataclass(frozen=True)
class GroupPrecision:
    """Of the photos answered GROUP, how many had their true class in the group named."""

    right: int
    n: int
    low: float  # 95 % Wilson interval of right / n
    high: float

    @property
    def precision(self) -> float:
        return self.right / self.n if self.n else float("nan")

    @classmethod
    def of(cls, right: int, n: int) -> "GroupPrecision":
        from .selection import wilson

        return cls(right, n, *wilson(right, n))


@dataclass(frozen=True)
class OodReport:
    method: str  # the out-of-catalogue score in use (train.ood.METHODS)
    auroc_tune: dict[str, float] = field(default_factory=dict)  # each score on the tuning half
    # each score: share of tuning out-of-catalogue photos flagged at the in-catalogue UNKNOWN budget
    flagged_tune: dict[str, float] = field(default_factory=dict)
    auroc_report: float | None = None  # the chosen score on the held-out half
    report_photos: DecisionShares | None = None  # decisions on the held-out out-of-catalogue photos
    held_out_operating_point: OperatingPoint | None = None


@dataclass(frozen=True)
class HoldoutResult:
    n: int
    recall: float


@dataclass(frozen=True)
class SourceHoldout:
    """Per "class <- held-out source": recall of a head trained without that source."""

    results: dict[str, HoldoutResult]
    mean_recall: float | None = None


@dataclass(frozen=True)
class NewClassReport:
    """A class a quick update added: photos per split and recall on its held-out photos."""

    train: int
    val: int
    test: int
    heldout_n: int
    heldout_recall: float
    kfold: ClassRecall | None = None  # fewer than 10 test photos: recall by k-fold CV over all its photos


@dataclass(frozen=True)
class CrossValidation:
    """A model fitted on every photo (`train.every_photo`): every photo answered out of fold."""

    folds: int
    metrics: SplitMetrics
    decisions: DecisionShares
    group_precision: GroupPrecision
    release: ReleaseReport


@dataclass(frozen=True)
class PairedResult:
    fixes: int  # photos the candidate gets right more often than the reference
    breaks: int
    p: float  # exact McNemar


@dataclass(frozen=True)
class ProtocolVerdict:
    """The selection protocol on a candidate (`train.selection`): adopted only when significant."""

    against: str
    adopted: bool
    reason: str
    estimates: dict[str, dict[str, Estimate]] = field(default_factory=dict)  # model -> measure -> estimate
    tests: dict[str, PairedResult] = field(default_factory=dict)


@dataclass(frozen=True)
class Metrics:
    val: SplitMetrics
    test: SplitMetrics
    decisions_test: DecisionShares
    ood: OodReport
    reliability_test: Reliability
    release_val: dict[str, FamilyRelease] = field(default_factory=dict)  # chosen on validation
    release_test: ReleaseReport | None = None
    source_holdout: SourceHoldout | None = None
    new_classes: dict[str, NewClassReport] = field(default_factory=dict)
    group_precision_test: GroupPrecision | None = None
    cv: CrossValidation | None = None  # fitted on every photo: every photo out of fold
    protocol: ProtocolVerdict | None = None  # a partial fine-tune against the head model

    def split(self, name: str) -> SplitMetrics:
        if name not in ("val", "test"):
            raise ValueError(f"split {name!r} has no stored metrics; use 'val' or 'test'")
        return getattr(self, name)


@dataclass(frozen=True)
class PhotoSides:
    """How large the training photos are: their short side in pixels (for the card's factors)."""

    n: int
    p10: int
    median: int
    p90: int


@dataclass(frozen=True)
class Training:
    """How the bundle was trained. Code reads the typed fields; `details` holds numbers only
    people read (stage timings, the fine-tuning history, a quick update's photo counts)."""

    mode: TrainingMode
    seconds_total: float
    config: TrainingConfig | None = None  # fit and fine-tune: `fit(config)` repeats the run
    l2: float | None = None  # the head's regularisation
    base: str | None = None  # quick update: the bundle it started from
    backbone: str | None = None  # "package" or a digest of fine-tuned weights, when not implied by the mode
    ood_data: Path | None = None  # out-of-catalogue photos used (a quick update reuses its base's)
    embedded_new: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    all_photos: bool = False  # fitted on every photo; calibrated and measured out of fold (`oof.npz`)
    folds: int | None = None  # the cross-validation folds of an every-photo fit
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class BundleMeta:
    version: str
    arch: str
    labels: list[str]
    preprocessing: Preprocessing
    temperature: float
    thresholds: Thresholds
    ood_method: str
    groups: dict[str, str]  # label -> catalogue group id (snapshot at training time)
    catalogue_version: str
    metrics: Metrics
    training: Training
    data_manifest: str
    counts: dict[str, dict[str, int]]  # label -> split -> photos
    sources: dict[str, int] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    parent: str | None = None  # version this one was derived from (quick update)
    # catalogue snapshot for the decision rule: CITES appendix and look-alikes (among the labels)
    appendices: dict[str, Appendix] = field(default_factory=dict)
    lookalikes: dict[str, list[str]] = field(default_factory=dict)
    photo_sides: PhotoSides | None = None
    format_version: int = FORMAT_VERSION

    @property
    def protected(self) -> frozenset[str]:
        """The CITES-listed labels."""
        return frozenset(label for label, a in self.appendices.items() if a is not Appendix.NONE)

    def decision_rule(self) -> DecisionRule:
        """The rule this model was calibrated for (its thresholds, groups and look-alike families)."""
        return DecisionRule.build(self.labels, self.groups, self.thresholds, self.protected, self.lookalikes)

    def to_dict(self) -> dict[str, Any]:
        return to_json(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BundleMeta":
        version = d.get("format_version")
        if version == 1:
            return _from_format_1(dict(d))
        if version != FORMAT_VERSION:
            raise ValueError(f"bundle format {version!r} is not supported (expected 1 or {FORMAT_VERSION}); "
                             "retrain it with `python -m train fit`")
        return from_json(cls, dict(d), "bundle.json")


# --- format 1: untyped metrics and training, stringified config, placeholder thresholds -------

def _thresholds_1(d: Mapping[str, Any]) -> Thresholds:
    """Format 1 wrote placeholders where a value was absent (group 1.01: no group of 2+
    classes; ood inf: no out-of-catalogue check) and had no release thresholds (so its
    look-alike families never confirm a harmless member)."""
    group, ood = d.get("group"), d.get("ood")
    return Thresholds(identify=min(1.0, max(float(d["identify"]), 1e-6)),
                      group=None if group is None or group > 1.0 else group,
                      ood=None if ood is None or not np.isfinite(ood) else ood)


def _metrics_1(m: dict[str, Any]) -> Metrics:
    m = dict(m)
    holdout = m.pop("source_holdout", None) or None
    if holdout:
        mean = holdout.pop("mean_recall", None)
        m["source_holdout"] = {"results": holdout, "mean_recall": mean}
    return from_json(Metrics, m, "bundle.json metrics (format 1)")


TRAINING_FIELDS_1 = ("l2", "base", "backbone", "embedded_new", "skipped")


def _training_1(t: dict[str, Any]) -> Training:
    t = dict(t)
    config = t.pop("config", None) or {}
    mode = TrainingMode(t.pop("mode"))
    typed = {k: t.pop(k) for k in TRAINING_FIELDS_1 if k in t}
    seconds = t.pop("seconds_total", 0.0)
    if mode is TrainingMode.QUICK_UPDATE:  # kept only the out-of-catalogue folder and catalogue overlays
        ood = config.get("ood_data")
        training_config, ood_data = None, None if ood in (None, "None", "") else Path(ood)
        t["catalogue_dirs"] = config.get("catalogue_dirs", [])
    else:
        training_config = TrainingConfig.from_legacy(config) if config else None
        ood_data = training_config.ood_data if training_config else None
    record = from_json(Training, {"mode": mode.value, "seconds_total": seconds, **typed}, "training (format 1)")
    return replace(record, config=training_config, ood_data=ood_data, details=t)


def _from_format_1(d: dict[str, Any]) -> BundleMeta:
    d["thresholds"] = to_json(_thresholds_1(d["thresholds"]))
    d["metrics"] = to_json(_metrics_1(d["metrics"]))
    d["training"] = to_json(_training_1(d["training"]))
    d["format_version"] = FORMAT_VERSION
    if "appendices" not in d:  # written before bundles kept the catalogue's facts: read them now
        from .snapshot import catalogue_snapshot

        snap = catalogue_snapshot(d["labels"], strict=False)
        d["appendices"], d["lookalikes"] = to_json(snap.appendices), snap.lookalikes
    return from_json(BundleMeta, d, "bundle.json (format 1)")
