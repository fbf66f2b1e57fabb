"""Writing catalogue files: canonical YAML, atomic replacement, and the edit history.

* `save_entry(entry, directory, author)` validates an entry against the rest of the
  catalogue, writes it atomically and appends a line to ``directory/_history.jsonl``;
  `save_group(group, directory, author)` does the same for a group in
  ``directory/_groups.yaml``; `read_history(directory)` reads that log back.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from .catalogue import (
    GROUPS_FILE,
    HISTORY_FILE,
    PACKAGED_DIR,
    Catalogue,
    CatalogueEntry,
    CatalogueError,
    Group,
    Problem,
    entry_to_mapping,
    group_to_mapping,
)
from .atomic import write_text_atomic
from .catalogue_io import FILE_HEADER, ID_RE, _read_groups, entry_from_mapping, group_from_mapping, load_catalogue

class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False):  # indent list items
        return super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Long text as folded blocks (no quotes to escape); short text with an apostrophe double-quoted.
    style = ">" if len(value) > 90 and "\n" not in value else ('"' if "'" in value else None)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_entry_yaml(mapping: Mapping[str, Any]) -> str:
    """Canonical text of an entry file (what `save_entry` writes)."""
    body = yaml.dump(dict(mapping), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=100, default_flow_style=False)
    return FILE_HEADER + body


def dump_groups_yaml(groups: Iterable[Group]) -> str:
    """Canonical text of the groups file (what `save_group` writes)."""
    body = yaml.dump({"groups": [group_to_mapping(g) for g in groups]}, Dumper=_Dumper,
                     sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
    return ("# Catalogue groups: coarse classes the model can fall back to.\n"
            "# Schema: species_data/README.md\n" + body)


def save_entry(entry_or_mapping: CatalogueEntry | Mapping[str, Any], directory: Path | str,
               author: str, *, base_dirs: Sequence[Path | str] | None = None) -> Path:
    """Validate, then atomically write ``directory/<id>.yaml`` and log it in ``_history.jsonl``.

    The entry is checked against the catalogue loaded from ``base_dirs`` (default: the
    packaged catalogue) plus ``directory``, with this entry replacing any earlier version.
    Nothing is written if validation fails.
    """
    return save_entries([entry_or_mapping], directory, author, base_dirs=base_dirs)[0]


def save_entries(entries: Sequence[CatalogueEntry | Mapping[str, Any]], directory: Path | str,
                 author: str, *, base_dirs: Sequence[Path | str] | None = None,
                 reason: str | None = None) -> list[Path]:
    """`save_entry` for several entries at once: all are validated together first (nothing is
    written if one is invalid), then each file is written atomically and logged; `reason`
    (e.g. "Species+ checklist import: file.csv") is recorded in each history line."""
    directory = Path(directory)
    if not isinstance(author, str) or not author.strip():
        raise CatalogueError("save_entry needs the name of the author (who made this edit)")
    mappings = [entry_to_mapping(e) if isinstance(e, CatalogueEntry) else dict(e) for e in entries]
    ids = [m.get("id") for m in mappings]
    for entry_id in ids:
        if not isinstance(entry_id, str) or not ID_RE.match(entry_id):
            raise CatalogueError(Problem(f"must be lower_snake_case, got {entry_id!r}", None, str(entry_id), "id"))
    if len(set(ids)) != len(ids):
        raise CatalogueError("the same entry id is given twice; save each entry once")
    targets = [directory / f"{entry_id}.yaml" for entry_id in ids]
    new = [entry_from_mapping(m, source=target) for m, target in zip(mappings, targets)]
    base = load_catalogue(*(tuple(base_dirs) if base_dirs else (PACKAGED_DIR,)), directory)
    files = {e.id: base.file_of(e.id) for e in base if base.file_of(e.id)}
    files.update({e.id: str(target) for e, target in zip(new, targets)})
    merged = Catalogue([e for e in base if e.id not in set(ids)] + new, base.groups.values(), files)
    directory.mkdir(parents=True, exist_ok=True)
    time = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    lines = []
    for entry, target in zip(new, targets):
        write_text_atomic(target, dump_entry_yaml(entry_to_mapping(entry)))
        record = {"time": time, "author": author.strip(), "id": entry.id,
                  "action": "updated" if entry.id in base else "created", "file": target.name,
                  "catalogue_version": merged.version}
        if reason:
            record["reason"] = reason
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    with open(directory / HISTORY_FILE, "a", encoding="utf-8") as fh:
        fh.write("".join(lines))
        fh.flush()
        os.fsync(fh.fileno())
    return targets


def save_group(group_or_mapping: Group | Mapping[str, Any], directory: Path | str, author: str, *,
               base_dirs: Sequence[Path | str] | None = None) -> Path:
    """Add (or rename) a group in ``directory/_groups.yaml``: validated, written atomically with
    the directory's other groups, and logged in ``_history.jsonl`` (action "group created" or
    "group updated"). The catalogue from ``base_dirs`` (default: packaged) plus ``directory``
    must still load."""
    directory = Path(directory)
    if not isinstance(author, str) or not author.strip():
        raise CatalogueError("save_group needs the name of the author (who made this edit)")
    mapping = group_to_mapping(group_or_mapping) if isinstance(group_or_mapping, Group) else dict(group_or_mapping)
    group = group_from_mapping(mapping, directory / GROUPS_FILE)
    base = load_catalogue(*(tuple(base_dirs) if base_dirs else (PACKAGED_DIR,)), directory)
    problems: list[Problem] = []
    mine = _read_groups(directory / GROUPS_FILE, problems) if (directory / GROUPS_FILE).is_file() else []
    if problems:
        raise CatalogueError(problems)
    kept = [g for g in mine if g.id != group.id] + [group]
    directory.mkdir(parents=True, exist_ok=True)
    write_text_atomic(directory / GROUPS_FILE, dump_groups_yaml(kept))
    record = {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
              "author": author.strip(), "id": group.id,
              "action": "group updated" if group.id in base.groups else "group created", "file": GROUPS_FILE,
              "catalogue_version": load_catalogue(*(tuple(base_dirs) if base_dirs else (PACKAGED_DIR,)),
                                                  directory).version}
    with open(directory / HISTORY_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return directory / GROUPS_FILE


def read_history(directory: Path | str) -> list[dict[str, Any]]:
    """The edit log written by `save_entry` (oldest first); empty if there is none."""
    path = Path(directory) / HISTORY_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
