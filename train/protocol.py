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
  IDENTIFIED as a non-protected class under the served rule and its release policy
  (`train.decision_rule`, `train.release`), what that policy costs (harmless look-alikes
  still IDENTIFIED), GROUP precision, held-out sources; and the out-of-catalogue
  UNKNOWN rate at <= 5 % in-catalogue UNKNOWN.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from . import ood
from .calibrate import UNKNOWN_BUDGET, decision_thresholds, ood_threshold_within_budget
from .card import ELEPHANT_IVORY_CLASSES, IVORY_CLASSES
from .crossval import FOLDS, HeadRecipe, assign_folds, cross_fitted, oof_logits
from .decision_rule import GROUP, IDENTIFIED, UNKNOWN, ClassGroups, DecisionRule, Outcomes, Thresholds
from .head import fit_temperature, softmax
from .selection import Estimate, Scorecard, estimate, wilson


def index_of(classes: ClassGroups, names: Sequence[str]) -> list[int]:
    return [classes.labels.index(n) for n in names if n in classes.labels]


def protected_in_group_of(classes: ClassGroups, label: str) -> list[int]:
    """Protected classes sharing `label`'s catalogue group (the ivory classes for elephant ivory)."""
    g = classes.groups.get(label, label)
    return [i for i, l in enumerate(classes.labels) if classes.groups.get(l, l) == g and classes.protected[i]]


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

    @classmethod
    def from_folds(cls, name: str, folds: np.ndarray, fold_list) -> "Precomputed":
        """From `train.every_photo.Fold`s (k-NN scores, as for every other member)."""
        n = len(folds)
        logits = np.zeros((n, fold_list[0].photos.logits.shape[1]), np.float32)
        scores = np.zeros(n)
        ood_logits, ood_scores = [], []
        for f in fold_list:
            logits[f.rows] = f.photos.logits
            scores[f.rows] = ood.scores("knn", None, f.photos.features, None, 1.0, f.ref)
            outside = [s for s in (f.ood_tune, f.ood_report) if s is not None]
            ood_logits.append(np.concatenate([s.logits for s in outside]) if outside else logits[:0])
            ood_scores.append(np.concatenate([ood.scores("knn", None, s.features, None, 1.0, f.ref) for s in outside])
                              if outside else np.zeros(0))
        return cls(name, folds, logits, scores, np.stack(ood_logits), np.stack(ood_scores))


@dataclass(frozen=True)
class Candidate:
    name: str
    members: tuple[Member | Precomputed, ...]


@dataclass
class RepeatOutputs:
    """One repeat of k-fold CV of a candidate."""

    folds: np.ndarray  # (n,)
    probs: np.ndarray  # (n, classes) out-of-fold, calibrated, averaged over members
    decisions: np.ndarray  # (n,) decision kind codes (`train.decision_rule.KINDS`)
    group: np.ndarray  # (n,) the heaviest group (`ClassGroups.group_ids` index)
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


def _member_outputs(m: Member | Precomputed, y, folds, classes: int):
    """(logits, out-of-catalogue logits, scores, out-of-catalogue scores), all out of fold."""
    if isinstance(m, Precomputed):
        if not np.array_equal(m.folds, folds):
            raise ValueError(f"member {m.name!r} was cross-validated on other folds; run it with "
                             "repeats=1 and the folds it was computed on")
        return m.logits, m.ood_logits, m.scores, m.ood_scores
    logits, ood_logits = _member_logits(m, y, folds, classes)
    return (logits, ood_logits, *_knn_scores(m.feats, m.ood_feats, y, folds, classes))


def choose_thresholds(probs: np.ndarray, y: np.ndarray, s_in: np.ndarray, classes: ClassGroups) -> Thresholds:
    """The served rule's thresholds, chosen as `train.calibrate.calibrate` chooses them."""
    thresholds, _ = decision_thresholds(probs, y, classes)
    return thresholds.replace(ood=ood_threshold_within_budget(DecisionRule(classes, thresholds), probs, s_in))


def run_repeat(candidate: Candidate, y: np.ndarray, folds: np.ndarray, classes: ClassGroups) -> RepeatOutputs:
    n_classes = len(classes.labels)
    probs, ood_probs, s_in, s_out = 0.0, 0.0, 0.0, 0.0
    for m in candidate.members:
        logits, ood_logits, a, b = _member_outputs(m, y, folds, n_classes)
        temps = cross_fitted(folds, lambda other: fit_temperature(logits[other], y[other]))
        t_row = np.array(temps)[folds][:, None]
        probs = probs + softmax(logits / t_row)
        ood_probs = ood_probs + np.stack([softmax(ood_logits[k], temps[k]) for k in range(len(temps))])
        s_in, s_out = s_in + a, s_out + b
    n_m = len(candidate.members)
    probs, ood_probs, s_in, s_out = probs / n_m, ood_probs / n_m, s_in / n_m, s_out / n_m
    thresholds = cross_fitted(folds, lambda other: choose_thresholds(probs[other], y[other], s_in[other], classes))
    n = len(y)
    decisions, base, group = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    ood_decisions, ood_base = np.zeros(s_out.shape, np.int64), np.zeros(s_out.shape, np.int64)
    for k, th in enumerate(thresholds):
        test = folds == k
        rule, no_ood = DecisionRule(classes, th), DecisionRule(classes, th.replace(ood=None))
        served: Outcomes = rule.decide_many(probs[test], s_in[test])
        decisions[test], group[test] = served.kind, served.group
        base[test] = no_ood.decide_many(probs[test]).kind
        ood_decisions[k] = rule.decide_many(ood_probs[k], s_out[k]).kind
        ood_base[k] = no_ood.decide_many(ood_probs[k]).kind
    return RepeatOutputs(folds, probs, decisions, group, s_in, ood_decisions, s_out, thresholds, base, ood_base)


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
                  classes: ClassGroups, repeats: int = 3, photos=None, train_mask: np.ndarray | None = None,
                  folds: int = FOLDS) -> CandidateOutputs:
    out = CandidateOutputs(candidate)
    for r in range(repeats):
        out.repeats.append(run_repeat(candidate, y, assign_folds(shas, groups, r, folds), classes))
    if photos is not None and train_mask is not None and all(isinstance(m, Member) for m in candidate.members):
        out.heldout, out.heldout_weight = heldout_sources(candidate, y, photos, train_mask, len(classes.labels))
    return out


# ---- measures ----
def scorecard(outputs: CandidateOutputs, y: np.ndarray, classes: ClassGroups, clusters: np.ndarray,
              budget: float = UNKNOWN_BUDGET) -> Scorecard:
    """Per-photo measures, each a mean over the repeats (see the module docstring)."""
    reps = outputs.repeats
    n = len(y)
    ivory5 = np.isin(y, index_of(classes, IVORY_CLASSES)).astype(float)
    elephant = np.isin(y, index_of(classes, ELEPHANT_IVORY_CLASSES))
    protected = classes.protected[y]
    harmless = classes.harmless_family[y] >= 0  # a harmless look-alike of a protected class
    ivory_cols = {int(c): protected_in_group_of(classes, classes.labels[c]) for c in np.unique(y[elephant])}

    top1 = np.mean([r.probs.argmax(1) == y for r in reps], 0)
    ivory_hit = np.zeros(n)
    for r in reps:
        for c, cols in ivory_cols.items():
            rows = y == c
            ivory_hit[rows] += r.probs[rows][:, cols].sum(1) >= 0.5
    ivory_hit /= len(reps)
    released = np.mean([(r.decisions == IDENTIFIED) & ~classes.protected[r.probs.argmax(1)] for r in reps], 0)
    harmless_identified = np.mean([(r.decisions == IDENTIFIED) & (r.probs.argmax(1) == y) for r in reps], 0)
    grouped = np.array([r.decisions == GROUP for r in reps])
    right_group = np.array([classes.membership[y, r.group] > 0 for r in reps]) & grouped
    group_weight = grouped.mean(0)
    group_value = np.divide(right_group.sum(0), grouped.sum(0), out=np.zeros(n), where=grouped.sum(0) > 0)

    per_photo = {"top1": top1, "ivory5": top1, "ivory_recall": ivory_hit, "released": released,
                 "harmless_identified": harmless_identified, "group_precision": group_value}
    weights = {"ivory5": ivory5, "ivory_recall": elephant.astype(float), "released": protected.astype(float),
               "harmless_identified": harmless.astype(float), "group_precision": group_weight}
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
    return float(in_unknown.mean()), float(out_unknown.mean()) if out_unknown.size else float("nan")
