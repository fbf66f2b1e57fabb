"""Trainer tab handlers for models: quick update, compare, publish, roll back, full retrain.

A mixin of `serve.ui.trainer_handlers.TrainerHandlers` (which holds the plumbing: `_require`,
`_errors`, `_published`, `_changes`...). As there, each handler calls `_require` first and
writes the audit log.
"""
import logging
import re
import sys
from pathlib import Path

import gradio as gr

from serve.records.auth import Permission, can
from serve.i18n import t
from serve.ui.trainer_views import (VERSION_COLUMNS, StageReporter, comparison_html, frame, job_text, plan_text,
                                   thin_classes, thin_text, update_summary, versions_rows)

log = logging.getLogger(__name__)

COMPARING = 0.95  # the share of the progress bar the update fills; the comparison takes the rest
VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class ModelHandlers:
    # --- models --------------------------------------------------------------------------
    def quick_update(self, request: gr.Request, progress=gr.Progress()):
        """Candidate bundle from the published one plus uploads minus removals; compared at once.
        Says first how long it will take (every photo never read on this computer is read once:
        about a minute on a fresh data folder, seconds after) and counts the photos as they are read."""
        user, lang = self._require(request, Permission.TRAIN)
        from train.compare import compare
        from train.quick_update import QuickUpdateConfig, quick_update
        from train.update_estimate import estimate

        base = self._published()
        if base is None:
            raise gr.Error(t("trainer.error.no_model", lang))
        if not self._update_lock.acquire(blocking=False):
            raise gr.Error(t("trainer.update.busy", lang))
        try:
            add, remove = self._changes()
            version = self._next_version()
            plan = estimate(base, self.ctx.config.data_dir, add, remove)
            said = plan_text(plan, lang)
            progress(0.0, desc=said)
            cfg = QuickUpdateConfig(base=base.path, out=self.models_dir / version, add=add, remove=remove,
                                    data_dir=self.ctx.config.data_dir,
                                    catalogue_dirs=[self.ctx.config.catalogue_overlay])
            with self._errors(lang):
                result = quick_update(cfg, StageReporter(progress, lang, upto=COMPARING, opening=said))
                progress(COMPARING, desc=t("trainer.update.stage.compare", lang))
                cmp = compare(result.bundle, base, self.ctx.config.data_dir)
            result.wait()
        finally:
            self._update_lock.release()
        self.ctx.store.audit(user.name, "trainer_quick_update", {
            "candidate": version, "base": base.meta.version, "added": result.added, "removed": result.removed,
            "new_classes": list(result.new_classes), "seconds": result.seconds.get("total"),
            "read": result.embedded_new, "estimated_seconds": round(plan.seconds, 1),
            "top1_before": cmp.top1_before, "top1_after": cmp.top1_after, "needs_override": cmp.needs_override})
        return (update_summary(result, lang), comparison_html(cmp, lang), self._plot(result.bundle.path),
                gr.update(choices=self._candidates(), value=version))

    @staticmethod
    def _plot(path: Path):
        """The candidate's confusion matrix as an image (the bundle folder may be outside what Gradio serves)."""
        from PIL import Image

        png = path / "confusion_test.png"
        if not png.exists():
            return None
        with Image.open(png) as image:
            return image.convert("RGB")

    def _candidates(self) -> list[str]:
        from train.bundle import list_versions

        return [m.version for m in reversed(list_versions(self.models_dir))]

    def latest_candidate(self) -> str | None:
        """The newest model when it is not the published one (what a trainer compares and
        publishes next), else None: an older model is a rollback, never preselected."""
        published = self._published()
        newest = next(iter(self._candidates()), None)
        return None if published is not None and newest == published.meta.version else newest

    def candidate_on_load(self, lang: str, user) -> dict:
        """The candidate list after a page (re)load, the latest candidate chosen (trainers only)."""
        label = t("trainer.ui.candidate", lang)
        if not can(user, Permission.TRAIN):
            return gr.update(label=label)
        return gr.update(label=label, choices=self._candidates(), value=self.latest_candidate())

    def plan_on_load(self, lang: str, user) -> dict:
        """What the next quick update will read and how long it should take, said before it is
        started. A page load never fails for it: an unreadable model or cache says nothing."""
        from train.update_estimate import estimate

        base = self._published() if can(user, Permission.TRAIN) else None
        if base is None:
            return gr.update(value="")
        try:
            add, remove = self._changes()
            return gr.update(value=plan_text(estimate(base, self.ctx.config.data_dir, add, remove), lang))
        except (OSError, ValueError) as err:
            log.warning("no quick-update estimate on page load: %s", err)
            return gr.update(value="")

    def _version_dir(self, version: str, lang: str) -> Path:
        """The folder of a model version: a plain name directly under the models folder.
        Anything else (a path, '..', 'current', a name with no bundle) gets the same answer,
        so the error says nothing about what exists elsewhere on the disk; no choice at all
        is asked for plainly."""
        name = (version or "").strip()
        if not name:
            raise gr.Error(t("trainer.error.no_version", lang), print_exception=False)
        folder = self.models_dir / name
        if (not VERSION_NAME.fullmatch(name) or name == "current"
                or not (folder / "bundle.json").is_file()):
            raise gr.Error(t("trainer.error.unknown_version", lang, version=name[:80]),
                           print_exception=False)
        return folder

    def compare(self, version: str, request: gr.Request):
        user, lang = self._require(request, Permission.TRAIN)
        from train.bundle import Bundle
        from train.compare import compare

        base = self._published()
        if base is None:
            raise gr.Error(t("trainer.error.no_model", lang))
        with self._errors(lang):
            bundle = Bundle.load(self._version_dir(version, lang))
            cmp = compare(bundle, base, self.ctx.config.data_dir)
        return comparison_html(cmp, lang), self._plot(bundle.path)

    def versions(self, request: gr.Request):
        user, lang = self._require(request, Permission.TRAIN)
        from train.bundle import list_versions

        published = self._published()
        rows = versions_rows(list_versions(self.models_dir), published.meta.version if published else None,
                             lang)
        choices = self._candidates()
        return (frame(rows, VERSION_COLUMNS, lang), gr.update(choices=choices), gr.update(choices=choices),
                gr.update(choices=self._class_choices()))

    def _publishable(self, version: str, override: bool, reason: str, lang: str):
        """(candidate, published, comparison) once the candidate may be published: a class worse
        than in the published model needs the override and a reason."""
        from train.bundle import Bundle
        from train.compare import compare

        with self._errors(lang):
            bundle = Bundle.load(self._version_dir(version, lang))
            base = self._published()
            cmp = compare(bundle, base, self.ctx.config.data_dir) if base is not None else None
        if cmp is not None and cmp.needs_override and not (override and (reason or "").strip()):
            raise gr.Error(t("trainer.publish.needs_override", lang, version=bundle.meta.version))
        return bundle, base, cmp

    def publish_check(self, version: str, override: bool, reason: str, request: gr.Request):
        """Before publishing: what will happen, to confirm (problems are said now, not after)."""
        user, lang = self._require(request, Permission.PUBLISH)
        bundle, base, cmp = self._publishable(version, override, reason, lang)
        text = t("trainer.publish.confirm", lang, version=bundle.meta.version,
                 published=base.meta.version if base is not None else "-")
        if cmp is not None and cmp.needs_override:
            text += " " + t("trainer.publish.confirm_override", lang)
        for ch in thin_classes(cmp) if cmp is not None else ():
            text += "\n\n\u26a0 **" + thin_text(ch, cmp.min_photos, lang) + "**"
        return gr.update(visible=True), text

    def publish(self, version: str, override: bool, reason: str, request: gr.Request):
        """Serve a candidate. Worse than the published model on any class: override + reason needed."""
        user, lang = self._require(request, Permission.PUBLISH)
        bundle, base, cmp = self._publishable(version, override, reason, lang)
        self._switch(bundle, user, "trainer_publish", {
            "version": bundle.meta.version, "previous": base.meta.version if base else None,
            "overridden": bool(cmp is not None and cmp.needs_override), "reason": (reason or "").strip(),
            "top1_before": cmp.top1_before if cmp else None, "top1_after": cmp.top1_after if cmp else None,
            "regressions": [r.label or r.kind.value for r in cmp.regressions] if cmp else []})
        return t("trainer.publish.done", lang, version=bundle.meta.version)

    def rollback(self, version: str, reason: str, request: gr.Request):
        """Serve an earlier version again, in one action."""
        user, lang = self._require(request, Permission.PUBLISH)
        from train.bundle import Bundle

        base = self._published()
        with self._errors(lang):
            bundle = Bundle.load(self._version_dir(version, lang))
        if base is not None and base.meta.version == bundle.meta.version:
            raise gr.Error(t("trainer.rollback.same", lang, version=version))
        self._switch(bundle, user, "trainer_rollback", {
            "version": bundle.meta.version, "previous": base.meta.version if base else None,
            "reason": (reason or "").strip()})
        return t("trainer.rollback.done", lang, version=bundle.meta.version)

    def _switch(self, bundle, user, action: str, detail: dict) -> None:
        from serve.auto_finetune import switch_model

        switch_model(self.ctx, bundle, user.name, action, detail, self.card_dir)

    # --- full retrain --------------------------------------------------------------------
    def retrain_start(self, request: gr.Request):
        user, lang = self._require(request, Permission.TRAIN)
        from train.jobs import JobBusy, photo_tree
        from train.quick_update import merge_photos, photos_from_manifest

        base = self._published()
        if base is None:
            raise gr.Error(t("trainer.error.no_model", lang))
        busy = self._jobs().active()
        if busy is not None:
            raise gr.Error(t("trainer.retrain.busy", lang, id=busy.id, who=busy.who))
        version = self._next_version()
        add, remove = self._changes()
        photos = merge_photos(photos_from_manifest(base.manifest()), add, remove).photos
        tree = photo_tree(photos, self.ctx.config.data_dir / "trainsets" / version)
        argv = self.retrain_command(version, tree) if self.retrain_command else self._fit_argv(version, tree, base)
        try:
            job = self._jobs().start(argv, who=user.name, kind="retrain", out=version)
        except JobBusy as busy:
            raise gr.Error(t("trainer.retrain.busy", lang, id=busy.job.id, who=busy.job.who)) from None
        self.ctx.store.audit(user.name, "trainer_retrain_start", {"job": job.id, "version": version,
                                                                  "mode": self.retrain_mode, "photos": len(photos)})
        return job_text(job, lang), "", gr.Timer(active=True)

    def _fit_argv(self, version: str, tree: Path, base) -> list[str]:
        cfg = self.ctx.config
        argv = [sys.executable, "-m", "train", "fit", "--mode", self.retrain_mode, "--data", str(tree.resolve()),
                "--out", str((self.models_dir / version).resolve()), "--data-dir", str(Path(cfg.data_dir).resolve()),
                "--catalogue", str(Path(cfg.catalogue_overlay).resolve())]
        ood = base.meta.training.ood_data
        if ood is not None and ood.is_dir():
            argv += ["--ood-data", str(ood.resolve())]
        return argv

    def retrain_cancel(self, request: gr.Request):
        user, lang = self._require(request, Permission.TRAIN)
        job = self._jobs().cancel()
        if job is not None:
            self.ctx.store.audit(user.name, "trainer_retrain_cancel", {"job": job.id, "status": job.status.value})
        return job_text(job, lang), job.log_tail if job else "", gr.Timer(active=False)

    def retrain_status(self, request: gr.Request):
        """The running (else latest) job, read from its state file: survives a page reload."""
        user, lang = self._require(request, Permission.TRAIN)
        job = self._jobs().status()
        running = job is not None and not job.status.finished
        return job_text(job, lang), job.log_tail if job else "", gr.Timer(active=running)
