"""Everything about the data the model learns from and the officer reads.

Nothing here imports `train` or `serve`: photos and the catalogue flow one way.
"""

from .catalogue import (  # noqa: E402
    DEFAULT_LANGUAGE,
    LANGUAGES,
    PACKAGED_DIR,
    Appendix,
    Catalogue,
    CatalogueEntry,
    CatalogueError,
    CitesListing,
    Group,
    KeyAttributes,
    Kind,
    ListingRow,
    Localised,
    LookAlike,
    Problem,
    Source,
    entry_to_mapping,
    group_to_mapping,
    normalise_language,
)
from .catalogue_io import entry_from_mapping, load_catalogue  # noqa: E402
from .catalogue_write import read_history, save_entries, save_entry, save_group  # noqa: E402
