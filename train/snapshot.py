"""What a bundle remembers of the catalogue it was trained against.

Why: the decision rule needs each class's group, whether it is protected (CITES-listed)
and which classes it is mistaken for; the catalogue may change after training (a trainer
edits an entry), and a bundle must keep answering the way it was calibrated. So training
takes a snapshot of those facts for its labels and the bundle carries it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from species_data.catalogue import Appendix


@dataclass(frozen=True)
class CatalogueSnapshot:
    version: str
    groups: dict[str, str]  # label -> catalogue group id
    appendices: dict[str, Appendix]  # label -> CITES appendix
    lookalikes: dict[str, list[str]]  # label -> its catalogue look-alikes among the labels

    @property
    def protected(self) -> frozenset[str]:
        """The CITES-listed labels (the one meaning of "protected")."""
        return frozenset(label for label, a in self.appendices.items() if a is not Appendix.NONE)


def catalogue_snapshot(labels: Sequence[str], catalogue_dirs: Sequence[Path] = (),
                       strict: bool = True) -> CatalogueSnapshot:
    """The catalogue's facts about `labels` (packaged catalogue + overlay folders).

    strict: every label must be a catalogue id (training); otherwise (reading an old
    bundle) a label missing from the catalogue counts as not listed, with no look-alikes."""
    from species_data import PACKAGED_DIR, load_catalogue

    catalogue = load_catalogue(PACKAGED_DIR, *catalogue_dirs)
    missing = [label for label in labels if label not in catalogue]
    if missing and strict:
        raise ValueError(
            f"photo folders {missing} have no catalogue entry; add species_data/catalogue/<id>.yaml "
            "(see species_data/README.md) or rename the folders to catalogue ids"
        )
    known = [label for label in labels if label in catalogue]
    names = set(labels)
    return CatalogueSnapshot(
        version=catalogue.version,
        groups={label: catalogue[label].group for label in known},
        appendices={label: catalogue[label].appendix if label in catalogue else Appendix.NONE for label in labels},
        lookalikes={label: [x.id for x in catalogue[label].lookalikes if x.id in names] for label in known},
    )
