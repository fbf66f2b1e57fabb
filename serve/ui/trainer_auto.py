"""Trainer tab handlers for the background fine-tune: its settings, its status, a run now.

A mixin of `serve.ui.trainer_handlers.TrainerHandlers` (`_require`, `_errors`, `_jobs`);
the work itself is `serve.auto_finetune.AutoFinetune` (`self.auto`). Changing whether a
model may be published without a trainer needs the publish permission; a run by hand
needs the train permission. Progress shows in the tab's job panel, like a full retrain.
"""
import gradio as gr

from serve.i18n import t
from serve.records.auth import Permission
from serve.ui.trainer_views import job_text


class AutoFinetuneHandlers:
    def _auto_text(self, lang: str) -> str:
        status = self.auto.status()
        s = status.settings
        if not s.enabled:
            return t("trainer.auto.off", lang, new=status.new_photos)
        return t("trainer.auto.status", lang, new=status.new_photos, threshold=s.new_photos,
                 publish=t("trainer.yes" if s.auto_publish else "trainer.no", lang),
                 last=status.last_verdict or t("trainer.auto.never", lang))

    def auto_status(self, request: gr.Request):
        """The settings in force and how many photos are new since the last run."""
        user, lang = self._require(request, Permission.TRAIN)
        s = self.auto.settings()
        return s.enabled, s.new_photos, s.auto_publish, self._auto_text(lang)

    def auto_save(self, enabled: bool, new_photos, auto_publish: bool, request: gr.Request):
        """Save the settings (audited); a run starts at once if the new ones make it due."""
        user, lang = self._require(request, Permission.PUBLISH)
        from train.auto_finetune import MIN_NEW_PHOTOS, Settings

        try:
            count = int(new_photos)
            if count != float(new_photos):
                raise ValueError
            settings = Settings(bool(enabled), count, bool(auto_publish))
        except (TypeError, ValueError):
            raise gr.Error(t("trainer.auto.bad_number", lang, min=MIN_NEW_PHOTOS, got=new_photos),
                           print_exception=False) from None
        self.auto.save_settings(settings, user.name)
        self.auto.check()
        return t("trainer.auto.saved", lang) + " " + self._auto_text(lang)

    def auto_run_now(self, request: gr.Request):
        """Start a background fine-tune now, whatever the count of new photos."""
        user, lang = self._require(request, Permission.TRAIN)
        from train.jobs import JobBusy

        try:
            with self._errors(lang):
                job = self.auto.run_now(user.name)
        except JobBusy as busy:
            raise gr.Error(t("trainer.retrain.busy", lang, id=busy.job.id, who=busy.job.who)) from None
        return job_text(job, lang), "", gr.Timer(active=True)
