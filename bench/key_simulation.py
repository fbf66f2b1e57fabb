"""Does the identification key bring a truthful officer to a short list holding the item?

For every catalogue entry, a simulated officer uses the key with no photo (all entries
weighted equally) and answers every question it asks truthfully from the entry's key
attributes: the entry's most typical value (the first one listed), or "can't tell" when the
entry states nothing for that attribute. We count the questions until the key stops and
check that the item is on the short list (at most `serve.identify.key.SHORT_LIST` entries).

With `--any-value SEEDS` the officer instead picks, at random, any of the values the entry
states (an officer may well call a rosewood carving "wood" rather than "finished item");
each entry is run once per seed and the worst run counts.

Run: python -m bench.key_simulation [--any-value SEEDS] [--catalogue DIR ...]
Prints the entries that needed the most questions, then one line:
`key: entries N, median questions M, worst W, always found: yes/no`.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/key_simulation.py`

from species_data import load_catalogue  # noqa: E402
from species_data.key import Attribute  # noqa: E402

from serve.identify.key import Answer, Key, KeyItem  # noqa: E402

Chooser = Callable[[tuple, random.Random], object]  # the entry's values -> the officer's answer


@dataclass(frozen=True)
class Run:
    entry_id: str
    questions: int
    found: bool
    short_list: tuple[str, ...]


def typical(values: tuple, rng: random.Random):
    return values[0]


def any_value(values: tuple, rng: random.Random):
    return rng.choice(values)


def walk(key: Key, item: KeyItem, choose: Chooser = typical, rng: random.Random | None = None) -> Run:
    """Answer the key's questions as `item` would until it stops."""
    rng = rng or random.Random(0)
    answers: list[Answer] = []
    state = key.state(answers)
    while not state.finished:
        attribute: Attribute = state.question.attribute
        values = item.values(attribute)
        answers.append(Answer(attribute, choose(values, rng) if values else None))
        state = key.state(answers)
    return Run(item.id, len(answers), item.id in state.short_list, state.short_list)


def simulate(key: Key, choose: Chooser = typical, seeds: int = 1) -> list[Run]:
    """One run per entry (the worst of `seeds` runs when the officer's choice is random)."""
    runs = []
    for item in key.items:
        tries = [walk(key, item, choose, random.Random(seed)) for seed in range(seeds)]
        runs.append(min(tries, key=lambda r: (r.found, -r.questions)))
    return runs


def result_line(runs: Sequence[Run]) -> str:
    questions = [r.questions for r in runs]
    return (f"key: entries {len(runs)}, median questions {statistics.median(questions):g}, "
            f"worst {max(questions)}, always found: {'yes' if all(r.found for r in runs) else 'no'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--any-value", type=int, default=0, metavar="SEEDS",
                        help="the officer picks any stated value at random; SEEDS runs per entry")
    parser.add_argument("--catalogue", nargs="*", type=Path, default=[],
                        help="catalogue directories (default: the packaged catalogue)")
    args = parser.parse_args(argv)
    catalogue = load_catalogue(*args.catalogue)
    key = Key.from_catalogue(catalogue)
    runs = simulate(key, any_value if args.any_value else typical, max(1, args.any_value))
    missing = [e.id for e in catalogue if e.key is None]
    if missing:
        print(f"entries without key attributes (in play for every answer): {', '.join(missing)}")
    print(f"{'entry':32} {'questions':>9}  found  short list")
    for r in sorted(runs, key=lambda r: (r.found, -r.questions, r.entry_id))[:15]:
        print(f"{r.entry_id:32} {r.questions:>9}  {'yes' if r.found else 'NO ':5}  {', '.join(r.short_list)}")
    print(result_line(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
