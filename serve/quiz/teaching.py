"""What every answer teaches: two species side by side and what tells them apart.

Why: a quiz that only says "right" or "wrong" teaches nothing on a right answer and little on
a wrong one. After every "what is this?" answer the trainee sees the species on the photo
next to one other choice, with the catalogue's cue that separates the pair (issue 17 item 5):

* a wrong answer compares the species shown with the one chosen;
* a right answer compares it with the closest other choice: a catalogue look-alike (which
  has a separating cue) first, else the first other choice.

When the pair has no look-alike cue (an easy question's unrelated choices), each species'
own first identification cue is given instead, so there is always something to look at.

Pure: catalogue records in, a `Lesson` out (texts in the trainee's language).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from species_data import Catalogue


@dataclass(frozen=True)
class Lesson:
    shown: str  # class id of the species on the photo (the right answer)
    other: str  # class id it is compared with
    cue: str | None  # the catalogue cue separating the pair, in the language asked for
    shown_cue: str  # each species' own first identification cue (used when `cue` is None)
    other_cue: str
    in_english: bool  # some of the text is English for want of a translation


def separating_cue(catalogue: Catalogue, a: str, b: str, lang: str):
    """The look-alike cue of the pair (held by either entry), as `Localised`, or None."""
    link = catalogue.link(a, b)
    return link.cue_in(lang) if link is not None else None


def compared_with(catalogue: Catalogue, shown: str, chosen: str, choices: Sequence[str]) -> str:
    """The species a right or wrong answer is compared with (see the module doc)."""
    if chosen != shown:
        return chosen
    others = [c for c in choices if c != shown]
    with_cue = [c for c in others if separating_cue(catalogue, shown, c, "en") is not None]
    return (with_cue or others or [shown])[0]


def lesson(catalogue: Catalogue, shown: str, chosen: str, choices: Sequence[str], lang: str) -> Lesson:
    """The comparison to show after the trainee chose `chosen` for a photo of `shown`."""
    other = compared_with(catalogue, shown, chosen, choices)
    cue = separating_cue(catalogue, shown, other, lang)
    firsts = []
    for class_id in (shown, other):
        entry = catalogue.get(class_id)
        cues = entry.cues_in(lang) if entry else None
        firsts.append((cues.value[0], cues.fell_back) if cues and cues.value else ("", False))
    in_english = (cue.fell_back if cue is not None else firsts[0][1] or firsts[1][1])
    return Lesson(shown, other, cue.value if cue is not None else None, firsts[0][0], firsts[1][0],
                  in_english)
