"""The trainer tab: catalogue entries, photos, quick update, compare, publish, roll back, retrain.

    with gr.Tab(t("app.tab.trainer", lang)):
        build_trainer_tab(ctx)

Layout only: the handlers live in `serve/ui/trainer_handlers.py` (each checks the
caller's permission first and writes the audit log); the views they render in
`serve/ui/trainer_views.py`. Every event has an `api_name` starting with `trainer_`.
"""
from pathlib import Path

import gradio as gr

from serve.context import AppContext
from serve.i18n import t
from serve.ui.case_review import CaseReviewHandlers
from serve.ui.common import Labels
from serve.ui.trainer_catalogue import build_catalogue_section
from serve.ui.trainer_checklist import build_checklist_section
from serve.ui.trainer_handlers import TrainerHandlers
from serve.ui.trainer_views import FLAG_COLUMNS, VERDICT_COLUMNS, VERSION_COLUMNS


def hide() -> dict:
    """Fold a section away (the publishing confirmation, once answered)."""
    return gr.update(visible=False)


def build_trainer_tab(ctx: AppContext, texts=None, *, lang: str = "en", card_dir: Path | None = None,
                      retrain_mode: str = "finetune") -> TrainerHandlers:
    """Lay out the tab inside the caller's `gr.Tab` and wire its events; returns the handlers.

    `texts` (a `serve.ui.common.Texts`): labels, buttons and sub-tab names are registered with it
    so the app re-renders them in each user's language; without it they are in `lang`."""
    h = TrainerHandlers(ctx, card_dir=card_dir, retrain_mode=retrain_mode)
    cases = CaseReviewHandlers(ctx, h.quality_gate)
    L = Labels(texts, lang, "trainer.ui.")
    lab, md, btn = L.label, L.markdown, L.button
    ids = list(ctx.catalogue().ids)

    def table(key: str, columns: tuple[str, ...]) -> gr.Dataframe:
        frame = gr.Dataframe(headers=[L(c) for c in columns], label=L(key), interactive=False)
        if texts is not None:
            # Gradio redraws the headers only with a value: an empty table in the user's language
            texts.add(frame, lambda lg, user: gr.update(label=t(f"trainer.ui.{key}", lg), value={
                "headers": [t(f"trainer.ui.{c}", lg) for c in columns], "data": []}))
        return frame

    def catalogue_pick(component, key: str):
        """A dropdown of catalogue ids whose choices are rebuilt on every page load, so an
        entry saved by another trainer (or before a reload) is offered."""
        component.label = L(key)
        if texts is not None:
            texts.add(component, lambda lg, user: gr.update(
                label=t(f"trainer.ui.{key}", lg), choices=list(ctx.catalogue().ids)))
        return component

    def tab(key: str) -> gr.Tab:
        section = gr.Tab(L(key))
        if texts is not None:
            texts.section(section, f"trainer.ui.{key}", visible=lambda user: True)
        return section

    with gr.Tabs():
        # --- catalogue ------------------------------------------------------------------
        with tab("tab_catalogue"):
            catalogue, entry = build_catalogue_section(ctx, texts, lang, h._require)
            build_checklist_section(ctx, texts, lang)  # CITES listings from a Species+ CSV

        # --- photos ---------------------------------------------------------------------
        with tab("tab_photos"):
            with gr.Row():
                class_pick = catalogue_pick(gr.Dropdown(ids, allow_custom_value=True, scale=2), "class")
                source = lab(gr.Textbox(scale=2), "source")
                licence = lab(gr.Textbox(scale=1), "licence")
                credit = lab(gr.Textbox(scale=1), "credit")
            files = lab(gr.File(file_count="multiple", file_types=["image", ".zip"]), "files")
            upload_btn = btn("upload", variant="primary")
            upload_summary = gr.Markdown()
            verdicts = table("verdicts", VERDICT_COLUMNS)
            md("review_help")
            review_btn = btn("review")
            shas = gr.State([])
            gallery = lab(gr.Gallery(columns=8, height=420, allow_preview=True), "gallery")
            with gr.Row():
                sha_box = lab(gr.Textbox(scale=3), "selected_sha")
                reason = lab(gr.Textbox(scale=3), "remove_reason")
                remove_btn = btn("remove", variant="stop", scale=1)
                restore_btn = btn("restore", scale=1)
            review_status = gr.Markdown()
            noise_btn = btn("find_noise")
            noise_status = gr.Markdown()
            flags = table("flags", FLAG_COLUMNS)
            flag_gallery = lab(gr.Gallery(columns=8, height=300), "flag_gallery")

        # --- confirmed case photos (issue 19: confirmation closes the loop) --------------
        with tab("tab_cases"):
            md("cases_help")
            cases_btn = btn("cases_refresh")
            case_keys = gr.State([])
            case_gallery = lab(gr.Gallery(columns=6, height=360), "cases_gallery")
            case_rows = table("cases_table", ("col_case", "col_confirmed", "col_model",
                                              "col_provenance", "col_sha"))
            with gr.Row():
                case_id = lab(gr.Textbox(scale=1), "cases_case")
                case_sha = lab(gr.Textbox(scale=3), "selected_sha")
                case_reason = lab(gr.Textbox(scale=3), "remove_reason")
                accept_btn = btn("cases_accept", variant="primary", scale=1)
                reject_btn = btn("cases_reject", variant="stop", scale=1)
            case_status = gr.Markdown()

        # --- model ----------------------------------------------------------------------
        with tab("tab_model"):
            update_btn = btn("quick_update", variant="primary")
            md("quick_update_help")
            update_summary = gr.Markdown()
            if texts is not None:  # how long the next update should take, before it is started
                texts.add(update_summary, h.plan_on_load)
            with gr.Row():
                candidate = gr.Dropdown([], allow_custom_value=True, scale=3, label=L("candidate"))
                if texts is not None:  # the newest candidate chosen after every page load
                    texts.add(candidate, h.candidate_on_load)
                compare_btn = btn("compare", scale=1)
            comparison = gr.HTML()
            confusion = lab(gr.Image(type="pil", interactive=False), "confusion")
            with gr.Row():
                override = lab(gr.Checkbox(), "override")
                override_reason = lab(gr.Textbox(scale=3), "override_reason")
                publish_btn = btn("publish", variant="primary", scale=1)
            with gr.Group(visible=False) as confirm_box:  # publishing asks first
                confirm_text = gr.Markdown()
                with gr.Row():
                    publish_yes = btn("publish_yes", variant="primary")
                    publish_no = btn("publish_no")
            publish_status = gr.Markdown()
            versions_btn = btn("refresh_versions")
            versions = table("versions", VERSION_COLUMNS)
            with gr.Row():
                rollback_pick = lab(gr.Dropdown([], allow_custom_value=True, scale=2), "rollback_to")
                rollback_reason = lab(gr.Textbox(scale=3), "rollback_reason")
                rollback_btn = btn("rollback", variant="stop", scale=1)
            rollback_status = gr.Markdown()
            md("auto_help")
            with gr.Row():
                auto_enabled = lab(gr.Checkbox(value=True), "auto_enabled")
                auto_new = lab(gr.Number(value=200, precision=0, minimum=10), "auto_new_photos")
                auto_publish = lab(gr.Checkbox(value=True), "auto_publish")
            with gr.Row():
                auto_save_btn = btn("auto_save")
                auto_status_btn = btn("auto_refresh")
                auto_run_btn = btn("auto_run")
            auto_status = gr.Markdown()
            md("retrain_help")
            with gr.Row():
                retrain_btn = btn("retrain")
                cancel_btn = btn("retrain_cancel", variant="stop")
                status_btn = btn("retrain_status")
            job_status = gr.Markdown()
            job_log = lab(gr.Textbox(lines=8, max_lines=8, interactive=False), "job_log")
            timer = gr.Timer(5, active=False)

    # --- events -------------------------------------------------------------------------
    entry["save"].click(catalogue.save_entry, entry["fields"], [entry["status"], entry["history"], class_pick,
                                                                *entry["slots"]], api_name="trainer_add_entry")
    upload_btn.click(h.upload, [files, class_pick, source, licence, credit], [verdicts, upload_summary],
                     api_name="trainer_upload")
    review_btn.click(h.review, [class_pick], [gallery, shas], api_name="trainer_review")
    gallery.select(h.select_photo, [shas], [sha_box], api_name="trainer_select_photo", api_visibility="private")
    flags.select(h.select_flag, None, [sha_box], api_name="trainer_select_flag", api_visibility="private")
    remove_btn.click(h.remove_photo, [sha_box, reason], [review_status], api_name="trainer_remove_photo")
    restore_btn.click(h.restore_photo, [sha_box], [review_status], api_name="trainer_restore_photo")
    noise_btn.click(h.label_noise, [class_pick], [flags, flag_gallery, noise_status], api_name="trainer_label_noise")
    cases_btn.click(cases.review_queue, None, [case_gallery, case_rows, case_keys],
                    api_name="trainer_case_queue")
    case_gallery.select(cases.review_select, [case_keys], [case_id, case_sha],
                        api_visibility="private")
    case_rows.select(cases.review_select, [case_keys], [case_id, case_sha], api_visibility="private")
    accept_btn.click(cases.review_accept, [case_id, case_sha], [case_status],
                     api_name="trainer_case_accept")
    reject_btn.click(cases.review_reject, [case_id, case_sha, case_reason], [case_status],
                     api_name="trainer_case_reject")
    one = {"concurrency_limit": 1, "concurrency_id": "trainer_models"}  # model changes run one at a time
    update_btn.click(h.quick_update, None, [update_summary, comparison, confusion, candidate],
                     api_name="trainer_quick_update", show_progress_on=[update_summary], **one)  # one bar
    compare_btn.click(h.compare, [candidate], [comparison, confusion], api_name="trainer_compare")
    publish_btn.click(h.publish_check, [candidate, override, override_reason], [confirm_box, confirm_text],
                      api_visibility="private")
    publish_yes.click(h.publish, [candidate, override, override_reason], [publish_status], api_name="trainer_publish",
                      **one).success(hide, None, [confirm_box], api_visibility="private")
    publish_no.click(hide, None, [confirm_box], api_visibility="private")
    versions_btn.click(h.versions, None, [versions, candidate, rollback_pick, class_pick], api_name="trainer_versions")
    rollback_btn.click(h.rollback, [rollback_pick, rollback_reason], [rollback_status], api_name="trainer_rollback",
                       **one)
    auto_save_btn.click(h.auto_save, [auto_enabled, auto_new, auto_publish], [auto_status],
                        api_name="trainer_auto_finetune_settings", **one)
    auto_status_btn.click(h.auto_status, None, [auto_enabled, auto_new, auto_publish, auto_status],
                          api_name="trainer_auto_finetune_status")
    auto_run_btn.click(h.auto_run_now, None, [job_status, job_log, timer], api_name="trainer_auto_finetune_run",
                       **one)
    retrain_btn.click(h.retrain_start, None, [job_status, job_log, timer], api_name="trainer_retrain")
    cancel_btn.click(h.retrain_cancel, None, [job_status, job_log, timer], api_name="trainer_retrain_cancel")
    status_btn.click(h.retrain_status, None, [job_status, job_log, timer], api_name="trainer_retrain_status")
    timer.tick(h.retrain_status, None, [job_status, job_log, timer], api_visibility="private")
    return h
