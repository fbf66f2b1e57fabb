"""The Gradio app: layout only. Each tab lives in its own module; every handler checks
the user's role on the server (`serve.ui.common.enter`) and speaks the user's language.

    ctx = AppContext(AppConfig(data_dir=Path("data")))
    demo = build_app(ctx)
    launch(demo, ctx)            # what `python -m serve` does
"""
from __future__ import annotations

import gradio as gr

from serve.records.auth import Permission, can
from serve.context import AppContext
from serve.i18n import LANGUAGE_NAMES, LANGUAGES, t
from serve.page_language import RELOAD_JS, PageLanguage, gradio_i18n
from serve.ui.analyst import build_analyst_tab
from serve.ui.cohort import build_cohort_tab
from serve.ui.history import build_history_tab
from serve.ui.identify import build_identify_tab
from serve.ui.quiz import build_quiz_tab
from serve.ui.common import LANGUAGE_AUDIT, Texts, enter, error
from serve.ui.theme import ACCESSIBILITY_JS, CSS, THEME
from serve.ui.trainer import build_trainer_tab

DEFAULT_CONCURRENCY = 4


def _language(lang: str) -> dict:
    return gr.update(value=lang, label=t("app.language.label", lang))


def _signed_in(user, lang: str) -> str:
    return t("app.signed_in", lang, name=user.name, role=t(f"app.role.{user.role.value}", lang))


# Tab -> the permissions that show it (any one is enough). Trainees: Quiz and Identify
# (practice); officers: Identify, History, Quiz; analysts: History, Analyst; trainers and
# admins: everything.
TABS: dict[str, tuple[Permission, ...]] = {
    "identify": (Permission.IDENTIFY,),
    "history": (Permission.VIEW_OWN_CASES, Permission.VIEW_ALL_CASES),
    "quiz": (Permission.TAKE_QUIZ,),
    "cohort": (Permission.VIEW_COHORT,),
    "trainer": (Permission.TRAIN, Permission.EDIT_CATALOGUE),
    "analyst": (Permission.ANALYSE_SEIZURES,),
}


def visible_tabs(user) -> list[str]:
    """The tabs this user sees (the handlers check permissions again on every call)."""
    return [tab for tab, perms in TABS.items() if any(can(user, p) for p in perms)]


class PageHandlers:
    """Page-wide events: the page load (who is signed in, their tabs and language) and the
    language picker. Both return one update per translated component."""

    def __init__(self, ctx: AppContext, texts: Texts) -> None:
        self.ctx = ctx
        self.texts = texts

    def on_load(self, request: gr.Request):
        user, lang = enter(self.ctx, request)
        return [_language(lang), _signed_in(user, lang), *self.texts.updates(lang, user)]

    def set_language(self, code, request: gr.Request):
        """Store the user's language -> every label and text re-rendered in it."""
        user, lang = enter(self.ctx, request)
        if code not in LANGUAGES:
            raise error(lang, "app.error.invalid",
                        detail=f"unknown language {code!r}; choose one of {', '.join(LANGUAGES)}")
        if code != lang:  # the picker also reports its unchanged value (e.g. when it loses focus)
            self.ctx.store.set_language(user.name, code)
            self.ctx.store.audit(user.name, LANGUAGE_AUDIT, {"language": code})
        return [_language(code), _signed_in(user, code), *self.texts.updates(code, user)]


def build_app(ctx: AppContext) -> gr.Blocks:
    texts = Texts()
    # Gradio's cache (uploads, results, exports) is swept hourly of files older than 6 h.
    with gr.Blocks(title=t("app.page_title"), delete_cache=(3600, 6 * 3600)) as demo:
        with gr.Row(equal_height=True):
            with gr.Column(scale=4):
                texts.value(gr.Markdown(), "app.title", markup="# {}")
                who = gr.Markdown()
            with gr.Column(scale=1, min_width=200):
                language = gr.Dropdown(choices=[(LANGUAGE_NAMES[c], c) for c in LANGUAGES],
                                       value="en", label=t("app.language.label"))
                texts.value(gr.Button(link="/logout", size="sm"), "app.logout")
        texts.value(gr.Markdown(), "app.intro")
        with gr.Tabs():
            builders = {"identify": build_identify_tab, "history": build_history_tab,
                        "quiz": build_quiz_tab, "cohort": build_cohort_tab,
                        "trainer": build_trainer_tab, "analyst": build_analyst_tab}
            for name, build in builders.items():
                with gr.Tab(visible=False) as tab:
                    handlers = build(ctx, texts)
                texts.section(tab, f"app.tab.{name}",
                              visible=lambda user, name=name: name in visible_tabs(user))
                if hasattr(handlers, "when_opened"):  # e.g. History lists recent cases
                    handlers.when_opened(tab.select)

        h = PageHandlers(ctx, texts)
        outputs = [language, who, *texts.components]
        demo.load(h.on_load, None, outputs, api_visibility="private")
        language.input(h.set_language, [language], outputs, api_name="set_language").success(
            None, [language], None, js=RELOAD_JS)  # Gradio's own strings follow only a fresh page
    return demo


def launch(demo: gr.Blocks, ctx: AppContext, *, prevent_thread_lock: bool = False,
           quiet: bool = False):
    """Start serving with Gradio's login backed by the records database, behind the app's
    HTTP guard (sign-in throttling and audit, export ownership, anti-framing headers); the page
    (Gradio's own strings, `<html lang>`, title, login page) is served in each user's language."""
    from starlette.middleware import Middleware

    from serve.http_guard import HttpGuard

    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=256)
    return demo.launch(
        server_name=ctx.config.host, server_port=ctx.config.port, auth=ctx.authenticate_async,
        app_kwargs={"middleware": [Middleware(HttpGuard, ctx=ctx), Middleware(PageLanguage, ctx=ctx)]},
        i18n=gradio_i18n(),
        auth_message=t("app.login.message"), max_file_size=f"{ctx.config.max_upload_mb}mb",
        show_error=False, ssr_mode=False, prevent_thread_lock=prevent_thread_lock,
        quiet=quiet, footer_links=["api"], theme=THEME, css=CSS, js=ACCESSIBILITY_JS)
