"""When the app runs the background partial fine-tune, and whether its model may be published.

Why: the partial fine-tune (`train.partial_fit`) is the part of the tool that improves as
trainers and confirmed seizures add photos. The app starts it by itself once enough new
photos have arrived since its last run, and publishes the result only when the selection
protocol says it beats the head model on the same photos; trainers choose the number
of photos and may switch automatic publishing (or the whole thing) off.

What (no torch, no gradio, no database):
* `Settings` (enabled, new photos per run, automatic publishing), `State` (the photos
  of the last run, the job it started, the jobs already handled), each a JSON file in the
  data folder written atomically (`load_settings`/`save_settings`, `load_state`/`save_state`);
* `new_photos(current, state)`, `due(settings, current, state, busy)`;
* `Verdict.of(bundle)`: the protocol's verdict a partial-fit bundle carries, and
  `Verdict.publish(settings)`: publish only a winner, and only when automatic publishing is on.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

SETTINGS_FILE = "auto_finetune.json"
STATE_FILE = "auto_finetune_state.json"
JOB_KIND = "auto_finetune"
MIN_NEW_PHOTOS = 10  # a smaller threshold would re-train on noise


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    new_photos: int = 200  # photos added since the last run before the next one starts
    auto_publish: bool = True  # publish a winner without waiting for a trainer

    def __post_init__(self) -> None:
        if not isinstance(self.new_photos, int) or isinstance(self.new_photos, bool) or \
                self.new_photos < MIN_NEW_PHOTOS:
            raise ValueError(f"new photos per background fine-tune must be a whole number of at least "
                             f"{MIN_NEW_PHOTOS}, got {self.new_photos!r}")


@dataclass
class State:
    last_photos: list[str] = field(default_factory=list)  # content hashes at the last run
    last_job: str | None = None  # the job the last run started
    last_version: str | None = None  # the bundle it writes
    handled: list[str] = field(default_factory=list)  # finished jobs whose verdict was acted on


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def load_settings(folder: Path) -> Settings:
    data = _read_json(Path(folder) / SETTINGS_FILE)
    if not data:
        return Settings()
    try:
        return Settings(**{k: data[k] for k in ("enabled", "new_photos", "auto_publish") if k in data})
    except (TypeError, ValueError):
        return Settings()  # a damaged file falls back to the defaults, never stops the app


def save_settings(folder: Path, settings: Settings) -> None:
    _write_json(Path(folder) / SETTINGS_FILE, asdict(settings))


def load_state(folder: Path, baseline: Iterable[str] = ()) -> State:
    """The saved state; the first time, `baseline` (the published model's photos) counts as
    the last run, so only photos added since then are new."""
    data = _read_json(Path(folder) / STATE_FILE)
    if not data:
        return State(last_photos=sorted(set(baseline)))
    return State(**{k: data[k] for k in ("last_photos", "last_job", "last_version", "handled") if k in data})


def save_state(folder: Path, state: State) -> None:
    _write_json(Path(folder) / STATE_FILE, asdict(state))


def new_photos(current: Iterable[str], state: State) -> int:
    """Photos in the current set that the last run did not have."""
    return len(set(current) - set(state.last_photos))


def due(settings: Settings, current: Iterable[str], state: State, busy: bool) -> bool:
    """A run is due when it is on, no other job runs, and enough photos are new."""
    return settings.enabled and not busy and new_photos(current, state) >= settings.new_photos


@dataclass(frozen=True)
class Verdict:
    """What the selection protocol said of a partial-fit bundle against the head model."""

    adopted: bool
    reason: str

    @classmethod
    def of(cls, metrics) -> "Verdict":
        """From a bundle's `Metrics` (`protocol`: `train.bundle_meta.ProtocolVerdict`, or None)."""
        protocol = getattr(metrics, "protocol", None)
        if protocol is None:
            return cls(False, "no protocol verdict")
        return cls(bool(protocol.adopted), protocol.reason)

    def publish(self, settings: Settings) -> bool:
        """Publish automatically only a winner, and only when trainers allow it."""
        return self.adopted and settings.auto_publish
