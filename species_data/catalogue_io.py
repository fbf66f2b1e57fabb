"""Reading and validating catalogue files (records are in `species_data.catalogue`,
writing in `species_data.catalogue_write`).

* `load_catalogue(*dirs)` reads ``<id>.yaml`` files and ``_groups.yaml``; later dirs override
  earlier ones entry by entry (and group by group).
* `entry_from_mapping(data)` checks one entry and names every problem it finds.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from .catalogue import (
    DEFAULT_LANGUAGE,
    GROUPS_FILE,
    LANGUAGES,
    PACKAGED_DIR,
    Catalogue,
    CatalogueEntry,
    CatalogueError,
    Group,
    Kind,
    LookAlike,
    Problem,
    Source,
)
from .cites import parse_cites
from .key import parse_key

ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# "Panthera tigris", "Ceratotherium simum simum", "Felidae spp."
SCIENTIFIC_RE = re.compile(r"^[A-Z][a-z]+(?: [a-z]+(?:-[a-z]+)?){1,2}$|^[A-Z][a-z]+ spp\.$")
ENTRY_FIELDS = ("id", "kind", "product_type", "group", "scientific_name", "other_taxa", "common_names",
                "cites", "cues", "lookalikes", "handling", "key", "sources")
REQUIRED_FIELDS = ("id", "kind", "group", "common_names", "cites", "cues", "handling", "sources")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # same rules as safe_load, faster with libyaml
FILE_HEADER = ("# Species catalogue entry: one file per entry, named <id>.yaml.\n"
               "# Schema and how to edit: species_data/README.md\n")


class _Collector:
    """Gathers problems for one entry/group so a trainer sees them all at once."""

    def __init__(self, file: Path | None, entry_id: str | None, what: str = "entry"):
        self.file = str(file) if file else None
        self.entry_id = entry_id
        self.what = what
        self.problems: list[Problem] = []

    def add(self, field: str | None, message: str) -> None:
        self.problems.append(Problem(message, self.file, self.entry_id, field, self.what))


def _text(value: Any, field: str, out: _Collector) -> str | None:
    if not isinstance(value, str) or not value.strip():
        out.add(field, f"must be non-empty text, got {value!r}")
        return None
    return value.strip()


def _lang_map(value: Any, field: str, out: _Collector, as_list: bool) -> dict[str, Any]:
    """Per-language text: {lang: text} or {lang: [text, ...]}; English required."""
    if not isinstance(value, Mapping):
        out.add(field, f"must be a mapping of language code to text (e.g. en: ...), got {value!r}")
        return {}
    result: dict[str, Any] = {}
    for lang, item in value.items():
        where = f"{field}.{lang}"
        if lang not in LANGUAGES:
            out.add(where, f"'{lang}' is not a supported language code; use one of {', '.join(LANGUAGES)}")
            continue
        if as_list:
            items = [item] if isinstance(item, str) else item
            if not isinstance(items, list) or not items:
                out.add(where, f"must be a non-empty list of text, got {item!r}")
                continue
            texts = [_text(x, f"{where}[{i}]", out) for i, x in enumerate(items)]
            if all(texts):
                result[lang] = tuple(texts)
        else:
            text = _text(item, where, out)
            if text:
                result[lang] = text
    if DEFAULT_LANGUAGE not in value:
        out.add(f"{field}.{DEFAULT_LANGUAGE}", "is missing: English text is required (other languages fall back to it)")
    return result


def entry_from_mapping(data: Any, source: Path | str | None = None) -> CatalogueEntry:
    """Validate one entry's fields and build it. ``source`` (its file) enables the id == filename check.

    Cross-references (group, look-alikes) are checked by `Catalogue`.
    """
    source = Path(source) if source else None
    claimed = data.get("id") if isinstance(data, Mapping) else None
    out = _Collector(source, claimed if isinstance(claimed, str) else (source.stem if source else None))
    if not isinstance(data, Mapping):
        out.add(None, f"the file must contain a mapping of fields ({', '.join(REQUIRED_FIELDS)}), got {type(data).__name__}")
        raise CatalogueError(out.problems)
    for key in data:
        if key not in ENTRY_FIELDS:
            out.add(str(key), f"is not a known field; allowed fields are {', '.join(ENTRY_FIELDS)}")
    for key in REQUIRED_FIELDS:
        if data.get(key) in (None, "", [], {}):
            out.add(key, "is required" + ("; list at least one cue an officer can check by eye" if key == "cues" else "")
                    + ("; cite at least one source for the legal facts" if key == "sources" else ""))

    entry_id = data.get("id")
    if entry_id is not None and (not isinstance(entry_id, str) or not ID_RE.match(entry_id)):
        out.add("id", f"must be lower_snake_case (letters, digits, _), got {entry_id!r}")
    elif source is not None and entry_id and entry_id != source.stem:
        out.add("id", f"'{entry_id}' does not match the file name '{source.name}'; "
                      f"the file must be named {entry_id}.yaml (or change the id)")

    kind = None
    if data.get("kind") is not None:
        try:
            kind = Kind(data["kind"])
        except ValueError:
            out.add("kind", f"must be {', '.join(k.value for k in Kind)}, got {data['kind']!r}")

    group = data.get("group")
    if group is not None and (not isinstance(group, str) or not ID_RE.match(group)):
        out.add("group", f"must be a group id in lower_snake_case, got {group!r}")

    sci = data.get("scientific_name")
    if sci is not None and (not isinstance(sci, str) or not SCIENTIFIC_RE.match(sci)):
        out.add("scientific_name", f"must look like 'Genus species', 'Genus species subspecies' or "
                                   f"'Taxon spp.', got {sci!r}")
    elif sci is None and kind is not None and kind is not Kind.LOOKALIKE:
        out.add("scientific_name", "is required for whole animals and parts/products")

    product = data.get("product_type")
    if product is not None:
        product = _text(product, "product_type", out)
    elif kind is Kind.PART_OR_PRODUCT:
        out.add("product_type", "is required for parts and products (e.g. carving, scales, skin)")

    listing = None
    if data.get("cites") is not None:
        listing, cites_problems = parse_cites(data["cites"])
        for field, message in cites_problems:
            out.add(field, message)

    other_taxa: list[str] = []
    raw_taxa = data.get("other_taxa") or []
    if not isinstance(raw_taxa, list):
        out.add("other_taxa", f"must be a list of scientific names, got {raw_taxa!r}")
        raw_taxa = []
    for i, name in enumerate(raw_taxa):
        if not isinstance(name, str) or not SCIENTIFIC_RE.match(name):
            out.add(f"other_taxa[{i}]", f"must look like 'Genus species' or 'Taxon spp.', got {name!r}")
        elif name == sci or name in other_taxa:
            out.add(f"other_taxa[{i}]", f"'{name}' is listed twice (or is the scientific_name)")
        else:
            other_taxa.append(name)

    key, key_problems = parse_key(data.get("key"))
    for field, message in key_problems:
        out.add(field, message)

    names = _lang_map(data["common_names"], "common_names", out, True) if data.get("common_names") else {}
    for lang, items in names.items():  # "Giant clam (shell, meat)" split at its comma reads "Giant clam (shell"
        for i, name in enumerate(items):
            if name.count("(") != name.count(")"):
                out.add(f"common_names.{lang}[{i}]", f"{name!r} has unbalanced parentheses: was one name split "
                        "at a comma? Write it as one quoted string")
    cues = _lang_map(data["cues"], "cues", out, True) if data.get("cues") else {}
    handling = _lang_map(data["handling"], "handling", out, True) if data.get("handling") else {}

    lookalikes: list[LookAlike] = []
    raw_la = data.get("lookalikes") or []
    if not isinstance(raw_la, list):
        out.add("lookalikes", f"must be a list of {{id, cue}}, got {raw_la!r}")
        raw_la = []
    seen: set[str] = set()
    for i, item in enumerate(raw_la):
        where = f"lookalikes[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"id", "cue"}:
            out.add(where, f"must be a mapping with exactly id and cue, got {item!r}")
            continue
        la_id = item.get("id")
        if not isinstance(la_id, str) or not ID_RE.match(la_id):
            out.add(f"{where}.id", f"must be an entry id, got {la_id!r}")
            continue
        if la_id == entry_id:
            out.add(f"{where}.id", "points to the entry itself")
        elif la_id in seen:
            out.add(f"{where}.id", f"'{la_id}' is listed twice")
        seen.add(la_id)
        cue = _lang_map(item.get("cue"), f"{where}.cue", out, False)
        lookalikes.append(LookAlike(la_id, cue))

    sources: list[Source] = []
    raw_src = data.get("sources") or []
    if not isinstance(raw_src, list):
        out.add("sources", f"must be a list of {{title, url}}, got {raw_src!r}")
        raw_src = []
    for i, item in enumerate(raw_src):
        where = f"sources[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"title", "url"}:
            out.add(where, f"must be a mapping with title and url, got {item!r}")
            continue
        title = _text(item.get("title"), f"{where}.title", out)
        url = item.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://\S+$", url.strip()):
            out.add(f"{where}.url", f"must be an http(s) URL, got {url!r}")
        elif title:
            sources.append(Source(title, url.strip()))

    if out.problems:
        raise CatalogueError(out.problems)
    return CatalogueEntry(
        id=entry_id, common_names=names, scientific_name=sci, kind=kind, product_type=product,
        group=group, cites=listing, cues=cues, lookalikes=tuple(lookalikes), handling=handling,
        sources=tuple(sources), other_taxa=tuple(other_taxa), key=key)


def _read_yaml(path: Path, out: _Collector) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        out.add(None, f"is not valid YAML: {exc}".replace("\n", " "))
        return None


def _read_groups(path: Path, problems: list[Problem]) -> list[Group]:
    out = _Collector(path, None, "group")
    data = _read_yaml(path, out)
    problems.extend(out.problems)
    if data is None and not out.problems:
        return []
    if not isinstance(data, Mapping) or not isinstance(data.get("groups"), list):
        if not out.problems:
            problems.append(Problem("must contain 'groups:' followed by a list of {id, names}", str(path)))
        return []
    groups = []
    for i, item in enumerate(data["groups"]):
        try:
            groups.append(group_from_mapping(item, path, position=i))
        except CatalogueError as exc:
            problems.extend(exc.problems)
    return groups


def group_from_mapping(item: Any, source: Path | str | None = None, *, position: int = 0) -> Group:
    """Validate one group ({id, names: {lang: text}}, English name required) and build it."""
    gid = item.get("id") if isinstance(item, Mapping) else None
    one = _Collector(Path(source) if source else None, gid if isinstance(gid, str) else f"#{position}", "group")
    if not isinstance(item, Mapping) or set(item) - {"id", "names"}:
        one.add(None, f"must be a mapping with id and names, got {item!r}")
    elif not isinstance(gid, str) or not ID_RE.match(gid):
        one.add("id", f"must be lower_snake_case, got {gid!r}")
    else:
        names = _lang_map(item.get("names"), "names", one, False)
        if not one.problems:
            return Group(gid, names)
    raise CatalogueError(one.problems)


def load_catalogue(*dirs: Path | str) -> Catalogue:
    """Load and validate the catalogue. No args: the packaged catalogue.

    Later dirs override earlier ones entry by entry (the app passes its overlay dir
    after `PACKAGED_DIR`). The first dir must exist; a later one that does not exist yet
    counts as empty. Raises `CatalogueError` listing every problem.
    """
    dirs = tuple(Path(d) for d in dirs) or (PACKAGED_DIR,)
    problems: list[Problem] = []
    entries: dict[str, CatalogueEntry] = {}
    files: dict[str, str] = {}
    groups: dict[str, Group] = {}
    for n, directory in enumerate(dirs):
        if not directory.is_dir():
            if n == 0:
                raise CatalogueError(f"catalogue directory {directory} does not exist")
            continue
        layer: dict[str, Path] = {}
        for path in sorted(directory.iterdir()):
            if path.name.startswith((".", "_")) or not path.is_file():
                continue
            if path.suffix == ".yml":
                problems.append(Problem(f"rename it to {path.stem}.yaml: entries must be <id>.yaml", str(path)))
                continue
            if path.suffix != ".yaml":
                continue
            out = _Collector(path, path.stem)
            data = _read_yaml(path, out)
            if out.problems:
                problems.extend(out.problems)
                continue
            claimed = data.get("id") if isinstance(data, Mapping) else None
            if isinstance(claimed, str) and claimed in layer:
                problems.append(Problem(
                    f"'{claimed}' is claimed by both {layer[claimed].name} and {path.name}; "
                    f"keep exactly one file, named {claimed}.yaml", str(path), claimed, "id"))
                continue
            if isinstance(claimed, str):
                layer[claimed] = path
            try:
                entry = entry_from_mapping(data, source=path)
            except CatalogueError as exc:
                problems.extend(exc.problems)
                continue
            entries[entry.id] = entry
            files[entry.id] = str(path)
        if (directory / GROUPS_FILE).is_file():
            for group in _read_groups(directory / GROUPS_FILE, problems):
                groups[group.id] = group
            files["_groups"] = str(directory / GROUPS_FILE)
    if problems:
        raise CatalogueError(problems)
    return Catalogue(entries.values(), groups.values(), files)
