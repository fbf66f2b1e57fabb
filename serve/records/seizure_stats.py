"""What the analyst tab shows, counted from seizure records: seizures by commodity and
month, the most frequent routes, concealment methods, and how the model's tentative
answers fared against confirmations.

Pure: `Case` records in, plain counts out (no database, no plotting, no web framework),
so each figure's numbers are tested on their own and exported as the same table.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from serve.records.seizure import outcome

if TYPE_CHECKING:  # only a type here: this module imports no database code
    from serve.records.case_schema import Case

UNRECORDED = "unrecorded"  # a field the officer left empty
OTHERS = "others"
UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class Table:
    """One figure's numbers: column names, and rows of (label, count, ...)."""

    columns: tuple[str, ...]
    rows: tuple[tuple, ...]

    def total(self) -> int:
        return sum(r[-1] for r in self.rows)


def month_of(case: Case) -> str:
    return case.day.strftime("%Y-%m")


def by_commodity_and_month(cases: Sequence[Case], top: int = 6) -> Table:
    """Rows (month, commodity, seizures), months in order; commodities beyond the `top`
    most seized are summed as "others"; cases without a commodity count as "unrecorded"."""
    commodity = [c.seizure.commodity or UNRECORDED for c in cases]
    leaders = {name for name, _ in Counter(commodity).most_common(top)}
    counts = Counter((month_of(c), name if name in leaders else OTHERS)
                     for c, name in zip(cases, commodity))
    rows = tuple((m, name, n) for (m, name), n in sorted(counts.items()))
    return Table(("month", "commodity", "seizures"), rows)


def top_routes(cases: Iterable[Case], top: int = 10) -> Table:
    """Rows (origin, destination, seizures) for cases that name both, most frequent first."""
    counts = Counter((c.seizure.origin_country, c.seizure.destination_country) for c in cases
                     if c.seizure.origin_country and c.seizure.destination_country)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return Table(("origin", "destination", "seizures"),
                 tuple((o, d, n) for (o, d), n in ranked))


def concealment_methods(cases: Iterable[Case]) -> Table:
    counts = Counter(c.seizure.concealment.value if c.seizure.concealment else UNRECORDED
                     for c in cases)
    return Table(("concealment", "seizures"),
                 tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))))


def confirmation_outcomes(cases: Iterable[Case],
                          group_of: Callable[[str], str | None]) -> Table:
    """Rows (outcome, cases): agreed, group_agreed, wrong, no_answer, or unconfirmed."""
    counts = Counter(
        UNCONFIRMED if c.confirmation is None
        else outcome(c.decision, c.label, c.confirmation.entry, group_of).value for c in cases)
    return Table(("outcome", "cases"),
                 tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))))


def model_wrong(cases: Iterable[Case], group_of: Callable[[str], str | None]) -> list[Case]:
    """Confirmed cases the model got wrong, newest confirmation first: the examples trainers
    should look at first."""
    wrong = [c for c in cases if c.confirmation is not None
             and outcome(c.decision, c.label, c.confirmation.entry, group_of).value == "wrong"]
    return sorted(wrong, key=lambda c: c.confirmation.recorded_at, reverse=True)
