"""Scoring a recipe by repeated cross-validation: what `bench/accuracy_cv.py` compares.

Why: a lever (another scale, an ensemble, a weighting, a fine-tune) is worth shipping
only if it wins on every photo, not on one split; and the measures that matter at a
border are not top-1 alone (issue 16): ivory against its look-alikes, elephant ivory
flagged as ivory, protected items released as a harmless look-alike, GROUP answers that
hold the truth, unseen sources, and photos of things outside the catalogue.

What:
* `Member`: one model of a candidate (features of every photo under one backbone, scale
  or view, and how its head is fitted); `Candidate`: members whose calibrated
  probabilities are averaged.
* `run_candidate`: for each repeat, out-of-fold logits of each member
  (`train.crossval.oof_logits`), a temperature and the decision thresholds cross-fitted
  on the other folds, the decision of every photo and of every out-of-catalogue photo
  under every fold's model, and a k-NN out-of-catalogue score against that fold's
  training photos.
* `scorecard`: per-photo measures (mean over repeats) for `train.selection`'s intervals
  and paired tests: top-1, ivory + look-alikes, elephant-ivory recall, protected photos
  IDENTIFIED as a non-protected class, GROUP precision, held-out sources; and the
  out-of-catalogue UNKNOWN rate at <= 5 % in-catalogue UNKNOWN.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from . import ood
from .calibrate import UNKNOWN_BUDGET, TARGET_PRECISION, _group_threshold, _ood_threshold_within_budget, \
    decide_many, group_matrix
from .bundle import Thresholds
from .card import IVORY_CLASSES
from .crossval import FOLDS, HeadRecipe, assign_folds, cross_fitted, oof_logits
from .head import fit_temperature, softmax
from .metrics import choose_threshold
from .selection import Estimate, Scorecard, estimate, wilson

ELEPHANT_IVORY_CLASSES = ("ivory_carving", "ivory_raw_tusk")
IDENTIFIED, GROUP, UNKNOWN = 0, 1, 2  # `calibrate.decide_many`'s codes


# ---- what the catalogue says about the labels ----
@dataclass(frozen=True)
class ClassFacts:
    labels: tuple[str, ...]
    groups: dict[str, str]  # label -> catalogue group
    protected: np.ndarray  # (classes,) bool: CITES-listed
    membership: np.ndarray  # (classes, groups of 2+ labels)
    group_names: tuple[str, ...]

    @classmethod
    def from_catalogue(cls, labels: Sequence[str], catalogue) -> "ClassFacts":
        groups = {l: catalogue[l].group for l in labels}
        names, membership = group_matrix(labels, groups)
        protected = np.array([catalogue[l].cites.protected for l in labels])
        return cls(tuple(labels), groups, protected, membership, tuple(names))

    def index(self, names: Sequence[str]) -> list[int]:
        return [self.labels.index(n) for n in names if n in self.labels]

    def protected_in_group_of(self, label: str) -> list[int]:
        """Protected classes sharing `label`'s group (the ivory classes for elephant ivory)."""
        g = self.groups[label]
        return [i for i, l in enumerate(self.labels) if self.groups[l] == g and self.protected[i]]


# ---- candidates ----
@dataclass(frozen=True)
class Member:
    """One model of a candidate. `feats`: one row per photo (the served view); `ood_feats`:
    out-of-catalogue photos; `train_views`: (features, owner photo index) of extra training
    rows (augmented views); `test_views`: more views of every photo whose logits are averaged
    with the served view's (test-time augmentation, one forward pass each)."""

    name: str
    feats: np.ndarray
    ood_feats: np.ndarray
    recipe: HeadRecipe = HeadRecipe()
    train_views: tuple[np.ndarray, np.ndarray] | None = None
    test_views: tuple[tuple[np.ndarray, np.ndarray], ...] = ()  # (photo views, out-of-catalogue views)
    logit_adjust: float = 0.0  # tau: logits - tau * log(class prior) (Menon et al., 2021)

    @property
    def forward_passes(self) -> int:
        return 1 + len(self.test_views)

    def adjusted(self, logits: np.ndarray, y_train: np.ndarray) -> np.ndarray:
        """Logits with the logit adjustment for the training labels' class prior (if any)."""
        if not self.logit_adjust:
            return logits
        prior = np.bincount(y_train, minlength=logits.shape[-1]) / len(y_train)
        return logits - self.logit_adjust * np.log(np.maximum(prior, 1e-6))


@dataclass(frozen=True)
class Precomputed:
    """A member whose out-of-fold outputs were computed elsewhere, on `folds` (a partial
    fine-tune trains a network per fold: `train.partial_finetune.cross_validate`)."""

    name: str
    folds: np.ndarray
    logits: np.ndarray  # (n, classes)
    scores: np.ndarray  # (n,) out-of-catalogue score against the fold's training photos
    ood_logits: np.ndarray  # (folds, m, classes)
    ood_scores: np.ndarray  # (folds, m)
    forward_passes: int = 1


@dataclass(frozen=True)
class Candidate:
    name: str
    members: tuple[Member | Precomputed, ...]


@dataclass
class RepeatOutputs:
    """One repeat of k-fold CV of a candidate."""

    folds: np.ndarray  # (n,)
    probs: np.ndarray  # (n, classes) out-of-fold, calibrated, averaged over members
    decisions: np.ndarray  # (n,) IDENTIFIED / GROUP / UNKNOWN
    scores: np.ndarray  # (n,) out-of-catalogue score against the photo's training folds
    ood_decisions: np.ndarray  # (folds, m) out-of-catalogue photos under every fold's model
    ood_scores: np.ndarray  # (folds, m)
    thresholds: list[Thresholds]
    base_decisions: np.ndarray  # (n,) the same without the out-of-catalogue rule
    ood_base_decisions: np.ndarray  # (folds, m)


@dataclass
class CandidateOutputs:
    candidate: Candidate
    repeats: list[RepeatOutputs] = field(default_factory=list)
    heldout: np.ndarray | None = None  # (n,) 1/0 held-out-source hit, nan where not held out
    heldout_weight: np.ndarray | None = None  # (n,) 1 / photos of its (class, source), 0 elsewhere


def _member_logits(m: Member, y, folds, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold logits of every photo (views averaged) and of the out-of-catalogue
    photos under every fold's head: ((n, C), (folds, m, C))."""
    extra = None
    if m.train_views is not None:
        feats, owner = m.train_views
        extra = (feats, y[owner], owner)
    applied_to = [v for pair in m.test_views for v in pair] + [m.ood_feats]
    logits, applied = oof_logits(m.feats, y, folds, classes, m.recipe, extra, applied_to)
    rows = np.arange(len(y))
    for j in range(len(m.test_views)):
        logits = logits + applied[2 * j][folds, rows]
    ood_logits = applied[-1] + sum(applied[2 * j + 1] for j in range(len(m.test_views)))
    return m.adjusted(logits / m.forward_passes, y), m.adjusted(ood_logits / m.forward_passes, y)


def _knn_scores(feats, ood_feats, y, folds, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """k-NN out-of-catalogue score (`train.ood`, v1's method) against each fold's training photos."""
    s_in = np.zeros(len(y))
    s_out = np.zeros((int(folds.max()) + 1, len(ood_feats)))
    for k in range(int(folds.max()) + 1):
        test = folds == k
        ref = ood.OodReference.fit(feats[~test], y[~test], classes)
        s_in[test] = ood.scores("knn", None, feats[test], None, 1.0, ref)
        s_out[k] = ood.scores("knn", None, ood_feats, None, 1.0, ref)
    return s_in, s_out


def choose_thresholds(probs: np.ndarray, y: np.ndarray, s_in: np.ndarray, membership: np.ndarray) -> Thresholds:
    """The calibrated rule's thresholds, chosen as `train.calibrate.calibrate` chooses them."""
    identify = choose_threshold(probs, y, TARGET_PRECISION)
    group = _group_threshold(probs, y, membership)
    return Thresholds(identify, group, _ood_threshold_within_budget(probs, s_in, identify, group, membership))


def _member_outputs(m: Member | Precomputed, y, folds, classes: int):
    """(logits, out-of-catalogue logits, scores, out-of-catalogue scores), all out of fold."""
    if isinstance(m, Precomputed):
        if not np.array_equal(m.folds, folds):
            raise ValueError(f"member {m.name!r} was cross-validated on other folds; run it with "
                             "repeats=1 and the folds it was computed on")
        return m.logits, m.ood_logits, m.scores, m.ood_scores
    logits, ood_logits = _member_logits(m, y, folds, classes)
    return (logits, ood_logits, *_knn_scores(m.feats, m.ood_feats, y, folds, classes))


def run_repeat(candidate: Candidate, y: np.ndarray, folds: np.ndarray, facts: ClassFacts) -> RepeatOutputs:
    classes = len(facts.labels)
    probs, ood_probs, s_in, s_out = 0.0, 0.0, 0.0, 0.0
    for m in candidate.members:
        logits, ood_logits, a, b = _member_outputs(m, y, folds, classes)
        temps = cross_fitted(folds, lambda other: fit_temperature(logits[other], y[other]))
        t_row = np.array(temps)[folds][:, None]
        probs = probs + softmax(logits / t_row)
        ood_probs = ood_probs + np.stack([softmax(ood_logits[k], temps[k]) for k in range(len(temps))])
        s_in, s_out = s_in + a, s_out + b
    n_m = len(candidate.members)
    probs, ood_probs, s_in, s_out = probs / n_m, ood_probs / n_m, s_in / n_m, s_out / n_m
    thresholds = cross_fitted(folds, lambda other: choose_thresholds(probs[other], y[other], s_in[other],
                                                                      facts.membership))
    decisions, base = np.zeros(len(y), np.int64), np.zeros(len(y), np.int64)
    ood_decisions, ood_base = np.zeros(s_out.shape, np.int64), np.zeros(s_out.shape, np.int64)
    for k, th in enumerate(thresholds):
        test = folds == k
        no_ood = Thresholds(th.identify, th.group, np.inf)
        decisions[test] = decide_many(probs[test], s_in[test], th, facts.membership)
        base[test] = decide_many(probs[test], s_in[test], no_ood, facts.membership)
        ood_decisions[k] = decide_many(ood_probs[k], s_out[k], th, facts.membership)
        ood_base[k] = decide_many(ood_probs[k], s_out[k], no_ood, facts.membership)
    return RepeatOutputs(folds, probs, decisions, s_in, ood_decisions, s_out, thresholds, base, ood_base)


def heldout_sources(candidate: Candidate, y: np.ndarray, photos, train_mask: np.ndarray,
                    classes: int) -> tuple[np.ndarray, np.ndarray]:
    """For each class with photos from 2+ sources and each of them: members fitted on the
    train split without that (class, source), tested on it (`train.fit.source_holdout`'s
    measure, for any candidate). Returns (hit per photo, weight 1/subset size; 0 elsewhere)."""
    hit = np.full(len(y), np.nan)
    weight = np.zeros(len(y))
    sources: dict[int, set[str]] = {}
    for i, p in enumerate(photos):
        if p.source:
            sources.setdefault(int(y[i]), set()).add(p.source)
    for c, names in sorted(sources.items()):
        if len(names) < 2:
            continue
        for source in sorted(names):
            held = np.array([int(y[i]) == c and p.source == source for i, p in enumerate(photos)])
            train = train_mask & ~held
            probs = 0.0
            for m in candidate.members:
                x, t = m.feats[train], y[train]
                if m.train_views is not None:
                    keep = train[m.train_views[1]]
                    x = np.concatenate([x, m.train_views[0][keep]])
                    t = np.concatenate([t, y[m.train_views[1]][keep]])
                head = m.recipe.fit(x, t, classes)
                logits = sum(v[held] @ head.weight.T + head.bias for v in (m.feats, *(tv[0] for tv in m.test_views)))
                probs = probs + softmax(m.adjusted(logits / m.forward_passes, t))
            hit[held] = (np.asarray(probs).argmax(1) == c).astype(float)
            weight[held] = 1.0 / held.sum()
    return hit, weight


def run_candidate(candidate: Candidate, y: np.ndarray, shas: Sequence[str], groups: np.ndarray,
                  facts: ClassFacts, repeats: int = 3, photos=None, train_mask: np.ndarray | None = None,
                  folds: int = FOLDS) -> CandidateOutputs:
    out = CandidateOutputs(candidate)
    for r in range(repeats):
        out.repeats.append(run_repeat(candidate, y, assign_folds(shas, groups, r, folds), facts))
    if photos is not None and train_mask is not None and all(isinstance(m, Member) for m in candidate.members):
        out.heldout, out.heldout_weight = heldout_sources(candidate, y, photos, train_mask, len(facts.labels))
    return out


# ---- measures ----
def scorecard(outputs: CandidateOutputs, y: np.ndarray, facts: ClassFacts, clusters: np.ndarray,
              budget: float = UNKNOWN_BUDGET) -> Scorecard:
    """Per-photo measures, each a mean over the repeats (see the module docstring)."""
    reps = outputs.repeats
    n = len(y)
    ivory5 = np.isin(y, facts.index(IVORY_CLASSES)).astype(float)
    elephant = np.isin(y, facts.index(ELEPHANT_IVORY_CLASSES))
    protected = facts.protected[y]
    member_of = facts.membership[y]  # (n, groups): the true class's group (none for singletons)
    ivory_cols = {int(c): facts.protected_in_group_of(facts.labels[c]) for c in np.unique(y[elephant])}

    top1 = np.mean([r.probs.argmax(1) == y for r in reps], 0)
    ivory_hit = np.zeros(n)
    for r in reps:
        for c, cols in ivory_cols.items():
            rows = y == c
            ivory_hit[rows] += r.probs[rows][:, cols].sum(1) >= 0.5
    ivory_hit /= len(reps)
    released = np.mean([(r.decisions == IDENTIFIED) & ~facts.protected[r.probs.argmax(1)] for r in reps], 0)
    grouped = np.array([r.decisions == GROUP for r in reps])
    chosen = np.array([(r.probs @ facts.membership).argmax(1) if facts.membership.shape[1] else np.zeros(n, int)
                       for r in reps])
    right_group = np.array([member_of[np.arange(n), c] > 0 for c in chosen]) & grouped
    group_weight = grouped.mean(0)
    group_value = np.divide(right_group.sum(0), grouped.sum(0), out=np.zeros(n), where=grouped.sum(0) > 0)

    per_photo = {"top1": top1, "ivory5": top1, "ivory_recall": ivory_hit, "released": released,
                 "group_precision": group_value}
    weights = {"ivory5": ivory5, "ivory_recall": elephant.astype(float), "released": protected.astype(float),
               "group_precision": group_weight}
    if outputs.heldout is not None:
        per_photo["heldout"] = np.nan_to_num(outputs.heldout)
        weights["heldout"] = outputs.heldout_weight
    card = Scorecard(outputs.candidate.name, per_photo, weights, clusters)
    card.extra.update(_unknown_rates(reps, budget))
    return card


def _unknown_rates(reps: list[RepeatOutputs], budget: float) -> dict[str, Estimate]:
    """In-catalogue and out-of-catalogue UNKNOWN as served (thresholds cross-fitted), and the
    out-of-catalogue UNKNOWN rate when one out-of-catalogue threshold is set on the out-of-fold
    scores so that at most `budget` of in-catalogue photos end UNKNOWN (v1's "held-out
    operating point", re-read on every photo)."""
    n_in, n_out = len(reps[0].decisions), reps[0].ood_decisions.shape[1]
    rates = {
        "unknown_in": np.mean([r.decisions == UNKNOWN for r in reps]),
        "unknown_out": np.mean([r.ood_decisions == UNKNOWN for r in reps]),
        "in_at_budget": np.mean([_operating_point(r, budget)[0] for r in reps]),
        "ood_at_budget": np.mean([_operating_point(r, budget)[1] for r in reps]),
    }
    sizes = {"unknown_in": n_in, "in_at_budget": n_in, "unknown_out": n_out, "ood_at_budget": n_out}
    return {k: Estimate(float(v), *wilson(v * sizes[k], sizes[k]), sizes[k]) for k, v in rates.items()}


def _operating_point(r: RepeatOutputs, budget: float) -> tuple[float, float]:
    """(in-catalogue UNKNOWN, out-of-catalogue UNKNOWN) under one out-of-catalogue threshold
    for all folds: the lowest that keeps in-catalogue UNKNOWN (low confidence included) at
    or under `budget`."""
    low_in = r.base_decisions == UNKNOWN  # UNKNOWN whatever the out-of-catalogue score
    allowed = int(np.floor(budget * len(low_in))) - int(low_in.sum())
    candidates = np.sort(r.scores[~low_in])[::-1]
    tau = candidates[min(max(allowed, 0), len(candidates) - 1)] if len(candidates) else np.inf
    in_unknown = low_in | (r.scores > tau)
    out_unknown = (r.ood_base_decisions == UNKNOWN) | (r.ood_scores > tau)
    return float(in_unknown.mean()), float(out_unknown.mean())
