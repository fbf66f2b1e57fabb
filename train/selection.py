"""The selection protocol's statistics: intervals, paired tests and the adoption rule.

Why: with 25 elephant-ivory photos in the test split a lucky photo looks like progress.
A candidate recipe (a lever: another scale, an ensemble, a weighting) is compared with
the current default on the same photos, each photo scored by repeated cross-validation
(`train.crossval`), and it is adopted only when the difference is significant.

What:
* `wilson`: 95 % Wilson interval of a proportion (held-out sources, out-of-catalogue rates).
* `Estimate` / `estimate`: a rate over photos with a 95 % bootstrap interval; photos are
  resampled by near-duplicate group, and each photo's value is its mean over the repeats.
* `mcnemar`: paired exact test of two recipes on the same photos (photos one gets right
  more often than the other, "fixes" against "breaks"; two-sided binomial).
* `Comparison` / `adopt`: the rule. A candidate is adopted when at least one of the
  primary measures (top-1, ivory and its look-alikes, elephant-ivory recall) is
  significantly better (p < `ALPHA`) and no guarded measure (those three, held-out
  sources, protected photos released as a look-alike) is significantly worse.
* `holm`: many levers tried in one run are many chances for noise to look significant,
  so the p-values of all their tests are adjusted together (Holm, 1979) before the rule.

numpy and scipy only.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

import numpy as np

ALPHA = 0.05
BOOTSTRAP = 2000
Z95 = 1.959963984540054
PRIMARY = ("top1", "ivory5", "ivory_recall")  # adoption needs one of these significantly better
GUARDED = ("top1", "ivory5", "ivory_recall", "heldout", "released")  # none may be significantly worse
LOWER_IS_BETTER = frozenset({"released"})


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (successes may be fractional: a mean over repeats)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


@dataclass(frozen=True)
class Estimate:
    """A rate with its 95 % interval and how many photos (denominator) it rests on."""

    value: float
    low: float
    high: float
    n: float

    def text(self, digits: int = 3, percent: bool = False) -> str:
        if self.value != self.value:
            return "n/a"
        if percent:
            return f"{100 * self.value:.1f} % [{100 * self.low:.1f}, {100 * self.high:.1f}]"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def to_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


def _cluster_sums(values: np.ndarray, weights: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, inverse = np.unique(clusters, return_inverse=True)
    k = int(inverse.max()) + 1 if len(inverse) else 0
    return (np.bincount(inverse, values * weights, minlength=k), np.bincount(inverse, weights, minlength=k))


def estimate(values: np.ndarray, weights: np.ndarray | None = None, clusters: np.ndarray | None = None,
             resamples: int = BOOTSTRAP, seed: int = 0) -> Estimate:
    """Weighted mean of per-photo `values` (sum(w v) / sum(w); w = 1 by default, 0 leaves a
    photo out: a ratio such as GROUP precision counts only GROUP answers) with a 95 %
    percentile bootstrap interval, resampling whole `clusters` (near-duplicate groups)."""
    values = np.asarray(values, np.float64)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, np.float64)
    clusters = np.arange(len(values)) if clusters is None else np.asarray(clusters)
    keep = weights > 0
    values, weights, clusters = values[keep], weights[keep], clusters[keep]
    total = weights.sum()
    if total <= 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0.0)
    value = float((values * weights).sum() / total)
    num, den = _cluster_sums(values, weights, clusters)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(num), size=(resamples, len(num)))
    with np.errstate(invalid="ignore", divide="ignore"):
        boots = num[picks].sum(1) / den[picks].sum(1)
    low, high = np.nanpercentile(boots, [2.5, 97.5])
    return Estimate(value, float(low), float(high), float(total))


@dataclass(frozen=True)
class PairedTest:
    """Photos the candidate gets right more often than the default (fixes) and less often (breaks)."""

    fixes: int
    breaks: int
    p_value: float  # after `holm`, the adjusted one
    difference: Estimate  # candidate - default, with its bootstrap interval
    raw_p: float | None = None  # before `holm`

    @property
    def better(self) -> bool:
        return self.p_value < ALPHA and self.fixes > self.breaks

    @property
    def worse(self) -> bool:
        return self.p_value < ALPHA and self.breaks > self.fixes

    def text(self) -> str:
        return f"+{self.fixes}/-{self.breaks}, p = {self.p_value:.3g}"


def mcnemar(candidate: np.ndarray, default: np.ndarray, weights: np.ndarray | None = None,
            clusters: np.ndarray | None = None, lower_is_better: bool = False) -> PairedTest:
    """Exact McNemar test on per-photo scores in [0, 1] (a photo's mean over repeats): a photo
    is fixed when the candidate scores it better, broken when worse; photos with weight 0
    are left out. Two-sided binomial test of fixes against breaks."""
    from scipy.stats import binomtest

    a, b = np.asarray(candidate, np.float64), np.asarray(default, np.float64)
    keep = np.ones(len(a), bool) if weights is None else np.asarray(weights) > 0
    diff = (a - b)[keep]
    if lower_is_better:
        diff = -diff
    fixes, breaks = int(np.sum(diff > 1e-9)), int(np.sum(diff < -1e-9))
    p = binomtest(fixes, fixes + breaks).pvalue if fixes + breaks else 1.0
    cl = None if clusters is None else np.asarray(clusters)[keep]
    sign = -1.0 if lower_is_better else 1.0
    return PairedTest(fixes, breaks, float(p), estimate(sign * diff, clusters=cl))


@dataclass
class Scorecard:
    """One recipe's measures: per-photo scores (for the paired tests) and their estimates."""

    name: str
    per_photo: dict[str, np.ndarray]  # measure -> per-photo score in [0, 1]
    weights: dict[str, np.ndarray]  # measure -> per-photo weight (0: the photo does not count)
    clusters: np.ndarray
    extra: dict[str, Estimate] = field(default_factory=dict)  # measures without a paired test

    def estimate(self, measure: str) -> Estimate:
        if measure in self.extra:
            return self.extra[measure]
        return estimate(self.per_photo[measure], self.weights.get(measure), self.clusters)


@dataclass(frozen=True)
class Comparison:
    candidate: str
    default: str
    tests: Mapping[str, PairedTest]

    @property
    def adopted(self) -> bool:
        return adopt(self.tests)

    @property
    def reason(self) -> str:
        better = [m for m in PRIMARY if m in self.tests and self.tests[m].better]
        worse = [m for m in GUARDED if m in self.tests and self.tests[m].worse]
        if worse:
            return "significantly worse on " + ", ".join(worse)
        if better:
            return "significantly better on " + ", ".join(better)
        return "no significant difference"


def adopt(tests: Mapping[str, PairedTest]) -> bool:
    """The rule: one primary measure significantly better, no guarded one significantly worse."""
    better = any(tests[m].better for m in PRIMARY if m in tests)
    worse = any(tests[m].worse for m in GUARDED if m in tests)
    return better and not worse


def compare(candidate: Scorecard, default: Scorecard) -> Comparison:
    """Paired tests of `candidate` against `default` on every measure both scored per photo
    (the same photos: a measure's weights must agree, e.g. the same held-out photos)."""
    tests = {}
    for measure, values in candidate.per_photo.items():
        if measure not in default.per_photo:
            continue
        w, w_default = candidate.weights.get(measure), default.weights.get(measure)
        if (w is None) != (w_default is None) or (w is not None and not np.array_equal(w > 0, w_default > 0)):
            continue  # not the same photos (e.g. each recipe's own GROUP answers): no paired test
        tests[measure] = mcnemar(values, default.per_photo[measure], w, candidate.clusters,
                                 lower_is_better=measure in LOWER_IS_BETTER)
    return Comparison(candidate.name, default.name, tests)


def holm(comparisons: list[Comparison]) -> list[Comparison]:
    """The same comparisons with the p-values of every test on a primary or guarded measure
    adjusted together by Holm's step-down method (family-wise error at `ALPHA`)."""
    measures = set(PRIMARY) | set(GUARDED)
    keys = [(i, m) for i, c in enumerate(comparisons) for m in c.tests if m in measures]
    order = sorted(keys, key=lambda k: comparisons[k[0]].tests[k[1]].p_value)
    adjusted, running = {}, 0.0
    for rank, (i, m) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * comparisons[i].tests[m].p_value))
        adjusted[(i, m)] = running
    out = []
    for i, c in enumerate(comparisons):
        tests = {m: (replace(t, p_value=adjusted[(i, m)], raw_p=t.p_value) if (i, m) in adjusted else t)
                 for m, t in c.tests.items()}
        out.append(Comparison(c.candidate, c.default, tests))
    return out
