"""The guided identification key: which question to ask next, and when to stop.

Why: most goods an officer meets (horn, scales, fins, timber, medicines) have no photos to
train on, so the model cannot name them. A multi-access key narrows the catalogue down by
what the officer sees, asking at each step the question that best splits what is left.

How it decides:

* Every entry starts with a weight. Without a photo all weights are equal. With a photo the
  model's probabilities weight the entries it knows, sharing `MODEL_SHARE` of the total;
  entries it has no photos of share the rest equally, so they stay in play.
* An answer keeps the entries that state that value or do not state the attribute at all;
  "can't tell" (value None) keeps every entry and only marks the question as asked.
* The next question is the one with the largest expected information gain about the entry,
  I(entry; answer) = H(answer) - H(answer | entry), where an entry with k values for an
  attribute gives each of them with probability 1/k and an entry that does not state it
  gives any value. Ties go to the order of `Attribute`.
* The key stops with a short list of at most `SHORT_LIST` entries, heaviest first, when no
  more than that remain or when no question left can split them.

Pure: no gradio, no torch, no database; `KeyAttributes` come from `species_data.key`.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from species_data.key import Attribute, KeyAttributes

SHORT_LIST = 3
MODEL_SHARE = 0.5  # share of the weight the photo model's probabilities get, when there is a photo
MIN_GAIN = 1e-9  # bits; a question that gains less cannot split the entries left


class KeyAnswerError(ValueError):
    """An answer the key cannot use; the message names it and says what to send instead."""


@dataclass(frozen=True)
class KeyItem:
    """One catalogue entry as the key sees it."""

    id: str
    attributes: KeyAttributes | None  # None: states nothing, stays in play for every answer
    weight: float = 1.0

    def matches(self, answer: "Answer") -> bool:
        return self.attributes is None or self.attributes.matches(answer.attribute, answer.value)

    def values(self, attribute: Attribute) -> tuple[enum.Enum, ...]:
        return self.attributes.of(attribute) if self.attributes is not None else ()


@dataclass(frozen=True)
class Answer:
    attribute: Attribute
    value: enum.Enum | None  # None: "can't tell"

    @classmethod
    def parse(cls, attribute: str, value: str | None) -> "Answer":
        """From the words a form or API sends: ('form', 'wood'); value None or '' = can't tell."""
        try:
            attr = Attribute(attribute)
        except ValueError:
            raise KeyAnswerError(f"{attribute!r} is not a question of the key; use one of "
                            + ", ".join(a.value for a in Attribute)) from None
        if value in (None, ""):
            return cls(attr, None)
        try:
            return cls(attr, attr.value_of(value))
        except ValueError as exc:
            raise KeyAnswerError(str(exc)) from None

    def to_dict(self) -> dict[str, str | None]:
        return {"attribute": self.attribute.value, "value": None if self.value is None else self.value.value}


@dataclass(frozen=True)
class Option:
    value: enum.Enum
    entries: int  # how many of the remaining entries this answer would keep


@dataclass(frozen=True)
class Question:
    attribute: Attribute
    options: tuple[Option, ...]  # only values some remaining entry states, in the enum's order
    gain: float  # expected information gain, bits


@dataclass(frozen=True)
class KeyState:
    """Where the key stands after the answers so far."""

    answers: tuple[Answer, ...]
    remaining: tuple[tuple[str, float], ...]  # (entry id, normalised weight), heaviest first
    question: Question | None  # None when the key has finished
    short_list: tuple[str, ...]  # set when finished: at most SHORT_LIST ids, heaviest first

    @property
    def finished(self) -> bool:
        return self.question is None

    @property
    def remaining_ids(self) -> tuple[str, ...]:
        return tuple(i for i, _ in self.remaining)

    def to_dict(self) -> dict:
        q = self.question
        return {
            "answers": [a.to_dict() for a in self.answers],
            "remaining": [{"id": i, "weight": w} for i, w in self.remaining],
            "question": None if q is None else {
                "attribute": q.attribute.value, "gain_bits": q.gain,
                "options": [{"value": o.value.value, "entries": o.entries} for o in q.options]},
            "short_list": list(self.short_list),
            "finished": self.finished,
        }


def weights_from_model(ids: Iterable[str], probabilities: Mapping[str, float] | None,
                       model_share: float = MODEL_SHARE) -> dict[str, float]:
    """Entry weights: uniform without a photo; with one, `model_share` split by the model's
    probabilities over the entries it knows and the rest shared by every other entry."""
    ids = list(ids)
    if not ids:
        return {}
    if not probabilities:
        return {i: 1.0 / len(ids) for i in ids}
    if not 0.0 <= model_share <= 1.0:
        raise ValueError(f"model_share must be between 0 and 1, got {model_share}")
    known = {i: max(0.0, float(probabilities[i])) for i in ids if i in probabilities}
    others = [i for i in ids if i not in known]
    total = sum(known.values())
    if total <= 0 or not math.isfinite(total):
        return {i: 1.0 / len(ids) for i in ids}
    share = model_share if others else 1.0
    weights = {i: share * p / total for i, p in known.items()}
    for i in others:
        weights[i] = (1.0 - share) / len(others)
    return weights


def _entropy(ps: Iterable[float]) -> float:
    return -sum(p * math.log2(p) for p in ps if p > 0)


def information_gain(items: Sequence[KeyItem], attribute: Attribute) -> float:
    """I(entry; answer) in bits over `items` (weights need not sum to 1)."""
    total = sum(it.weight for it in items)
    if total <= 0:
        return 0.0
    all_values = attribute.values
    p_answer = dict.fromkeys(all_values, 0.0)
    h_given_entry = 0.0
    for it in items:
        w = it.weight / total
        values = it.values(attribute) or all_values
        for v in values:
            p_answer[v] += w / len(values)
        h_given_entry += w * math.log2(len(values))
    return _entropy(p_answer.values()) - h_given_entry


class Key:
    """The key over a set of entries. `state(answers)` is pure: same answers, same state."""

    def __init__(self, items: Sequence[KeyItem], short_list: int = SHORT_LIST) -> None:
        ids = [it.id for it in items]
        if len(set(ids)) != len(ids):
            raise ValueError("the key's entries must have distinct ids")
        if short_list < 1:
            raise ValueError(f"short_list must be at least 1, got {short_list}")
        self.items = tuple(items)
        self.short_list = short_list

    @classmethod
    def from_catalogue(cls, catalogue, probabilities: Mapping[str, float] | None = None,
                       model_share: float = MODEL_SHARE) -> "Key":
        """Every catalogue entry, weighted by the photo model's probabilities when given."""
        weights = weights_from_model(catalogue.ids, probabilities, model_share)
        return cls([KeyItem(e.id, e.key, weights[e.id]) for e in catalogue])

    def state(self, answers: Sequence[Answer] = ()) -> KeyState:
        asked: set[Attribute] = set()
        left = list(self.items)
        for answer in answers:
            if answer.attribute in asked:
                raise KeyAnswerError(f"the question {answer.attribute.value!r} was answered twice; "
                                "go back to change an answer")
            asked.add(answer.attribute)
            left = [it for it in left if it.matches(answer)]
        total = sum(it.weight for it in left)
        ranked = sorted(left, key=lambda it: (-it.weight, it.id))
        remaining = tuple((it.id, it.weight / total if total > 0 else 1.0 / len(left)) for it in ranked)
        question = None if len(left) <= self.short_list else self.best_question(left, asked)
        short = tuple(i for i, _ in remaining[:self.short_list]) if question is None else ()
        return KeyState(tuple(answers), remaining, question, short)

    def best_question(self, left: Sequence[KeyItem], asked: set[Attribute]) -> Question | None:
        best: Question | None = None
        for attribute in Attribute:
            if attribute in asked:
                continue
            gain = information_gain(left, attribute)
            if gain <= MIN_GAIN or (best is not None and gain <= best.gain + MIN_GAIN):
                continue
            options = tuple(Option(v, sum(1 for it in left if it.matches(Answer(attribute, v))))
                            for v in attribute.values
                            if any(v in it.values(attribute) for it in left))
            best = Question(attribute, options, gain)
        return best


def parse_answers(raw: object) -> tuple[Answer, ...]:
    """Answers as a form or the API sends them: [{"attribute": ..., "value": ...}, ...]."""
    if raw in (None, ""):
        return ()
    if not isinstance(raw, (list, tuple)):
        raise KeyAnswerError(f"answers must be a list of {{attribute, value}}, got {type(raw).__name__}")
    if len(raw) > len(Attribute):
        raise KeyAnswerError(f"{len(raw)} answers for {len(Attribute)} questions; send each question once")
    out = []
    for item in raw:
        if not isinstance(item, Mapping) or "attribute" not in item:
            raise KeyAnswerError(f"each answer must be {{attribute, value}}, got {item!r}")
        value = item.get("value")
        if value is not None and not isinstance(value, str):
            raise KeyAnswerError(f"an answer's value must be text or null (can't tell), got {value!r}")
        out.append(Answer.parse(str(item["attribute"]), value))
    return tuple(out)
