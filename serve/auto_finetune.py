"""The background partial fine-tune, as the app runs it: start it when due, publish only a winner.

`AutoFinetune(ctx, card_dir)`:
* `check()`: first act on a finished run (its bundle carries the selection protocol's
  verdict against the head model: a winner is published when automatic publishing is on,
  anything else stays a candidate on the Trainer tab; the audit log records which and
  why); then start a new run when enough photos have arrived since the last one
  (`train.auto_finetune.due`). Safe to call often: each finished job is acted on once.
* `run_now(who)`: start a run whatever the count (the Trainer tab's button).
* `watch(interval)`: `check()` every `interval` seconds on a daemon thread (`python -m serve`
  starts it, so runs start and finish without anyone on the Trainer tab).
Runs are `python -m train fit --mode partial` jobs under `train.jobs.JobManager` (one job
at a time, shared with the full retrain), so the Trainer tab's job panel shows their
progress. Publishing goes through `switch_model`, the same step a trainer's publish takes.
"""
from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from serve.context import AppContext

log = logging.getLogger(__name__)
WHO = "auto-finetune"  # the name the audit log shows for the app's own actions
OUTCOMES = {"auto_finetune_publish": "published", "auto_finetune_kept": "kept as a candidate"}


def switch_model(ctx: AppContext, bundle, who: str, action: str, detail: dict, card_dir: Path) -> None:
    """Serve `bundle` (atomic switch of models/current), put its card in `card_dir`, audit the change."""
    from train.bundle import publish
    from train.card import publish_card

    publish(ctx.config.models_dir, bundle.meta.version)
    card = publish_card(bundle, card_dir)
    ctx.store.audit(who, action, {**detail, "card": card.name})


@dataclass(frozen=True)
class Status:
    settings: object  # train.auto_finetune.Settings
    new_photos: int
    last_version: str | None
    last_verdict: str | None  # "published", "kept: <reason>", or None


class AutoFinetune:
    def __init__(self, ctx: AppContext, card_dir: Path | None = None,
                 command: Callable[[str, Path, object], Sequence[str]] | None = None):
        self.ctx = ctx
        self.card_dir = Path(card_dir) if card_dir else ctx.config.card_dir
        self.command = command  # (version, photo tree, base bundle) -> argv; tests pass a fake
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # --- where things are --------------------------------------------------------------
    @property
    def folder(self) -> Path:
        return Path(self.ctx.config.data_dir) / "jobs"

    def _jobs(self):
        from train.jobs import JobManager

        return JobManager(self.folder)

    def _published(self):
        from train.bundle import current

        return current(self.ctx.config.models_dir)

    def _photos(self, base) -> list:
        """The photos a run trains on: the published model's, plus uploads, minus removals."""
        from train.quick_update import merge_photos, photos_from_manifest

        add, remove = self.ctx.photo_changes()
        return list(merge_photos(photos_from_manifest(base.manifest()), add, remove).photos)

    # --- settings and status -----------------------------------------------------------
    def settings(self):
        from train.auto_finetune import load_settings

        return load_settings(self.folder)

    def save_settings(self, settings, who: str) -> None:
        from train.auto_finetune import save_settings

        save_settings(self.folder, settings)
        self.ctx.store.audit(who, "auto_finetune_settings", {"enabled": settings.enabled,
                                                             "new_photos": settings.new_photos,
                                                             "auto_publish": settings.auto_publish})

    def status(self) -> Status:
        from train.auto_finetune import load_state, new_photos

        base = self._published()
        photos = self._photos(base) if base is not None else []
        state = load_state(self.folder, [r["sha256"] for r in base.manifest()] if base else [])
        verdict = None
        for entry in self.ctx.store.audit_log(who=WHO, limit=20):
            if entry.action in OUTCOMES:
                verdict = f"{OUTCOMES[entry.action]}: {entry.detail.get('version') or ''} {entry.detail.get('reason')}"
                break
        return Status(self.settings(), new_photos([p.sha256 for p in photos], state), state.last_version, verdict)

    # --- acting ------------------------------------------------------------------------
    def check(self) -> str | None:
        """Act on a finished run, then start one if due. Returns what was done, if anything."""
        from train.auto_finetune import due, load_state

        with self._lock:
            base = self._published()
            if base is None:
                return None
            done = self._finish(base)
            if done:
                return done
            photos = self._photos(base)
            state = load_state(self.folder, [r["sha256"] for r in base.manifest()])
            if due(self.settings(), [p.sha256 for p in photos], state, self._jobs().active() is not None):
                return self._start(base, photos, WHO, "enough new photos")
        return None

    def run_now(self, who: str):
        """Start a run at once (refused while another job runs: `train.jobs.JobBusy`)."""
        with self._lock:
            base = self._published()
            if base is None:
                raise ValueError("no published model yet: train and publish one before a background fine-tune")
            return self._start(base, self._photos(base), who, "started by hand")

    def _start(self, base, photos, who: str, why: str):
        from train.auto_finetune import JOB_KIND, load_state, save_state
        from train.jobs import photo_tree
        from train.quick_update import next_version

        version = next_version(self.ctx.config.models_dir)
        tree = photo_tree(photos, Path(self.ctx.config.data_dir) / "trainsets" / version)
        argv = list(self.command(version, tree, base) if self.command else self._argv(version, tree, base))
        job = self._jobs().start(argv, who=who, kind=JOB_KIND, out=version)
        state = load_state(self.folder, [r["sha256"] for r in base.manifest()])
        save_state(self.folder, replace(state, last_photos=sorted(p.sha256 for p in photos), last_job=job.id,
                                        last_version=version))
        self.ctx.store.audit(who, "auto_finetune_start", {"job": job.id, "version": version, "photos": len(photos),
                                                          "why": why})
        return job

    def _argv(self, version: str, tree: Path, base) -> list[str]:
        cfg = self.ctx.config
        data_dir = Path(cfg.data_dir).resolve()
        argv = [sys.executable, "-m", "train", "fit", "--mode", "partial", "--data", str(tree.resolve()),
                "--out", str((Path(cfg.models_dir) / version).resolve()), "--data-dir", str(data_dir),
                "--catalogue", str(Path(cfg.catalogue_overlay).resolve())]  # its card is beside the bundle
        ood = base.meta.training.ood_data
        if ood is not None and Path(ood).is_dir():
            argv += ["--ood-data", str(Path(ood).resolve())]
        return argv

    def _finish(self, base) -> str | None:
        """The last run's verdict acted on, once: publish a winner (when allowed), else keep it."""
        from train.auto_finetune import Verdict, load_state, save_state
        from train.bundle import Bundle
        from train.jobs import JobStatus

        state = load_state(self.folder, [r["sha256"] for r in base.manifest()])
        if not state.last_job or state.last_job in state.handled:
            return None
        try:
            job = self._jobs().get(state.last_job)
        except KeyError:
            return None
        if not job.status.finished:
            return None
        save_state(self.folder, replace(state, handled=[*state.handled, job.id][-50:]))
        if job.status is not JobStatus.SUCCEEDED:
            self.ctx.store.audit(WHO, "auto_finetune_kept", {"job": job.id, "reason": f"job {job.status.value}"})
            return "failed"
        bundle = Bundle.load(Path(self.ctx.config.models_dir) / job.out)
        verdict = Verdict.of(bundle.meta.metrics)
        detail = {"job": job.id, "version": bundle.meta.version, "previous": base.meta.version,
                  "adopted": verdict.adopted, "reason": verdict.reason}
        if verdict.publish(self.settings()):
            switch_model(self.ctx, bundle, WHO, "auto_finetune_publish", detail, self.card_dir)
            return "published"
        why = verdict.reason if not verdict.adopted else "automatic publishing is off: a trainer decides"
        self.ctx.store.audit(WHO, "auto_finetune_kept", {**detail, "reason": why})
        return "kept"

    def watch(self, interval: float = 60.0) -> threading.Thread:
        """`check()` every `interval` seconds on a daemon thread until `stop()`."""
        def loop():
            while not self._stop.wait(interval):
                try:
                    self.check()
                except Exception:  # noqa: BLE001 - the watcher must outlive one bad check
                    log.exception("background fine-tune check failed")

        thread = threading.Thread(target=loop, name="auto-finetune", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
