"""Quiz tab: drill on real photos, immediate feedback, results, certificate.

Endpoints (all need Permission.TAKE_QUIZ):
  quiz_start(syllabus, length, difficulty, law_questions, names) -> question outputs
  quiz_resume() / quiz_next(session_id)                           -> question outputs
  quiz_answer(session_id, question_id, chosen, show_heat_map)     -> feedback outputs
  quiz_finish(session_id)                                         -> summary outputs
Question outputs carry only the public view (prompt, choices, an opaque photo); the
answer is read from the database after the answer is recorded.
"""
from __future__ import annotations

import html
from datetime import datetime, timezone

import gradio as gr

from serve.records.auth import Permission
from serve.identify.heatmap import HeatMapper
from serve.i18n import t
from serve.quiz.engine import (Difficulty, NameStyle, PublicQuestion, QuestionKind, SyllabusScope,
                   certification_messages, choice_message, feedback, summary_messages)
from serve.quiz.service import MAX_LENGTH, MIN_LENGTH, QuizService, QuizSettings, Report, prompt_of
from serve.records.checks import check_id, check_int
from serve.identify.species_card import card_markdown
from serve.quiz.teaching import lesson
from serve.ui.quiz_views import certification_html, feedback_html, progress_figure, summary_html
from serve.ui.common import (Texts, enter, error, example_thumbnail, namer, option_list,
                 side_by_side, thumbnail, user_errors)

PHOTO_SIDE = 512
QUESTION_OUTPUTS = 12  # see question_view
SUMMARY_OUTPUTS = 4  # see QuizHandlers.quiz_finish


def syllabus_options(ctx, lang: str) -> list[tuple[str, str]]:
    base = [(t(f"app.quiz.syllabus.{s}", lang), s) for s in ("all", "appendix_i", "products")]
    catalogue = ctx.catalogue()
    pool = ctx.quiz.pool()
    with_photos = {c.group for c in pool.classes.values() if pool.photos[c.id]}
    groups = sorted((g.name(lang), gid) for gid, g in catalogue.groups.items() if gid in with_photos)
    return base + [(t("app.quiz.syllabus.group", lang, name=n), f"group:{gid}") for n, gid in groups]


def parse_settings(syllabus: str, length, difficulty: str, law: bool, names: str) -> QuizSettings:
    syllabus = syllabus or "all"
    group = syllabus.split(":", 1)[1] if syllabus.startswith("group:") else None
    scope = SyllabusScope.GROUP if group else SyllabusScope(syllabus)
    length = check_int(10 if length in (None, "") else length, "quiz length", MIN_LENGTH, MAX_LENGTH)
    return QuizSettings(scope, group, length, Difficulty(difficulty or "medium"),
                        bool(law), NameStyle(names or "common"))


def choice_namer(ctx, lang: str, names: NameStyle):
    catalogue, common = ctx.catalogue(), namer(ctx.catalogue(), lang)

    def name_of(class_id: str) -> str:
        entry = catalogue.get(class_id)
        if names is NameStyle.SCIENTIFIC and entry is not None and entry.scientific_name:
            return entry.scientific_name
        return common(class_id)
    return name_of


def render_prompt(ctx, public: dict, lang: str) -> str:
    msg = prompt_of(public)
    params = dict(msg.params)
    if "class_id" in params:
        params["name"] = namer(ctx.catalogue(), lang)(params["class_id"])
    return t(msg.key, lang, **params)


def question_view(ctx, service: QuizService, session, q, lang: str) -> list:
    p = q.public
    names = NameStyle(p.get("names", "common"))
    pq = PublicQuestion(str(q.id), QuestionKind(p["kind"]), p["photo_id"], tuple(p["choices"]),
                        prompt_of(p), names)
    name_of = choice_namer(ctx, lang, names)
    labelled = [(choice_message(pq, c, name_of).render(lang), c) for c in pq.choices]
    prompt = render_prompt(ctx, p, lang)
    public = {"session_id": session.id, "question_id": q.id, "position": q.position + 1,
              "total": session.length, "kind": p["kind"], "prompt": prompt,
              "photo_id": p["photo_id"], "choices": [{"value": v, "label": lab} for lab, v in labelled]}
    image = thumbnail(str(service.photo_path(p["photo_id"])), PHOTO_SIDE)
    progress = t("app.quiz.progress", lang, position=q.position + 1, total=session.length)
    return [session.id, q.id, public, progress, image, prompt,
            gr.update(choices=labelled, value=None), None, "", hidden(), hidden(), ""]


def hidden() -> dict:
    return gr.update(value=None, visible=False)


def syllabus_label(ctx, name: str, lang: str) -> str:
    return {v: k for k, v in syllabus_options(ctx, lang)}.get(name, name)


def certificate_line(report: Report, syllabus: str, lang: str) -> str:
    c = report.certificate
    return t("app.quiz.cert.issued", lang, id=c.id, date=f"{c.issued_at:%Y-%m-%d}",
             syllabus=syllabus)


def printable(ctx, user, report: Report, lang: str) -> tuple[str, str]:
    """The printable summary as (Markdown, HTML), in the user's language."""
    name_of = namer(ctx.catalogue(), lang)
    settings = QuizSettings.from_json(report.session.syllabus)
    syllabus = syllabus_label(ctx, settings.syllabus_name, lang)
    lines = [t("app.quiz.print.trainee", lang, name=user.name),
             t("app.quiz.print.date", lang, date=f"{datetime.now(timezone.utc):%Y-%m-%d}"),
             t("app.quiz.print.syllabus", lang, syllabus=syllabus)]
    score = [m.render(lang) for m in summary_messages(report.summary, name_of, max_pairs=10)]
    groups = [f"{name_of(g)}: {s.correct}/{s.total} ({s.rate:.0%})"
              for g, s in report.summary.per_group.items()]
    cert = [m.render(lang) for m in certification_messages(report.certification)] \
        if report.certification else []
    if report.certificate is not None:
        cert.append(certificate_line(report, syllabus, lang))
    sections = [(t("app.quiz.print.groups", lang), groups),
                (t("app.quiz.print.confused", lang), score[1:]),
                (t("app.quiz.print.certification", lang), cert)]
    title = t("app.quiz.print.title", lang)
    md = [f"# {title}", *lines, "", f"**{score[0]}**"]
    body = [f"<h1>{html.escape(title)}</h1>"] + [f"<p>{html.escape(x)}</p>" for x in lines]
    body.append(f"<p><strong>{html.escape(score[0])}</strong></p>")
    for head, items in sections:
        if items:
            md += ["", f"## {head}", *[f"- {x}" for x in items]]
            body.append(f"<h2>{html.escape(head)}</h2><ul>" +
                        "".join(f"<li>{html.escape(x.replace('**', ''))}</li>" for x in items) + "</ul>")
    page = (f'<!doctype html><html lang="{lang}"><meta charset="utf-8"><title>{html.escape(title)}'
            f"</title><body>{''.join(body)}</body></html>")
    return "\n".join(md) + "\n", page


def session_of(value, lang: str) -> int:
    if value is None or value == "":
        raise error(lang, "app.quiz.no_session")
    try:
        return check_id(value, "quiz id")
    except ValueError as exc:
        raise error(lang, "app.error.invalid", detail=str(exc)) from None


def no_change(count: int) -> list:
    return [gr.update() for _ in range(count)]


class QuizHandlers:
    """The Quiz tab's events (all need Permission.TAKE_QUIZ)."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx

    def quiz_start(self, syllabus_v, length_v, difficulty_v, law_v, names_v, request: gr.Request):
        """Start a quiz -> the first question (public view only: no answer)."""
        user, lang = enter(self.ctx, request, Permission.TAKE_QUIZ)
        service = self.ctx.quiz
        with user_errors(lang):
            settings = parse_settings(syllabus_v, length_v, difficulty_v, law_v, names_v)
            sess = service.start(user.name, settings)
            q = service.next_open(user.name, sess.id)
            if sess.length < settings.length:
                gr.Info(t("app.quiz.short", lang, count=sess.length))
            return question_view(self.ctx, service, sess, q, lang)

    def quiz_resume(self, request: gr.Request):
        user, lang = enter(self.ctx, request, Permission.TAKE_QUIZ)
        service = self.ctx.quiz
        with user_errors(lang):
            sess = service.latest_open(user.name)
            if sess is None:
                gr.Warning(t("app.quiz.resume_none", lang))
                return no_change(QUESTION_OUTPUTS)
            return question_view(self.ctx, service, sess, service.next_open(user.name, sess.id), lang)

    def quiz_next(self, sid, request: gr.Request):
        user, lang = enter(self.ctx, request, Permission.TAKE_QUIZ)
        service = self.ctx.quiz
        with user_errors(lang):
            sid = session_of(sid, lang)
            q = service.next_open(user.name, sid)
            if q is None:
                gr.Info(t("app.quiz.all_answered", lang))
                return no_change(QUESTION_OUTPUTS)
            return question_view(self.ctx, service, service.session(user.name, sid), q, lang)

    def quiz_answer(self, sid, qid, chosen, want_heat, request: gr.Request):
        """Answer one question (once) -> feedback: right or wrong, the right answer, the cue."""
        user, lang = enter(self.ctx, request, Permission.TAKE_QUIZ)
        service = self.ctx.quiz
        sid = session_of(sid, lang)
        if chosen is None or chosen == "" or qid is None:
            raise error(lang, "app.quiz.pick_first")
        catalogue = self.ctx.catalogue()
        with user_errors(lang):
            out = service.answer(user.name, sid, qid, chosen)
            q, a = out.question, out.answer
            name_of = choice_namer(self.ctx, lang, q.names)
            messages = feedback(q, a, name_of)
            taught, pair, pair_label = None, None, None
            if q.kind is QuestionKind.IDENTIFY:  # every answer teaches one comparison
                taught = lesson(catalogue, q.class_id, chosen, q.choices, lang)
                example = service.example_photo(taught.other)
                pair = side_by_side(thumbnail(str(service.photo_path(q.photo_id))),
                                    example_thumbnail(str(example)) if example else None)
                pair_label = t("app.quiz.compare.pair" if example else "app.quiz.compare.no_example", lang,
                               name=namer(catalogue, lang)(taught.other))
            verdict_html = feedback_html(a.correct, messages, taught, namer(catalogue, lang), lang)
            entry = catalogue.get(q.class_id)
            card_md = card_markdown(entry, catalogue, lang) if entry else ""
            heat_img = None
            if want_heat:
                mapper = HeatMapper.for_predictor(self.ctx.predictor())
                target = q.class_id if q.class_id in mapper.labels else None
                heat_img = mapper.explain(service.photo_path(q.photo_id), class_id=target
                                          ).overlay(size=PHOTO_SIDE)
        data = {"correct": a.correct, "chosen": chosen, "expected": q.answer,
                "expected_label": choice_message(q, q.answer, name_of).render(lang),
                "compared_with": taught.other if taught else None,
                "cue": taught.cue if taught else None, "finished": out.finished}
        return (data, verdict_html,
                gr.update(value=pair, visible=pair is not None, **({"label": pair_label} if pair_label else {})),
                gr.update(value=heat_img, visible=heat_img is not None), card_md)

    def quiz_finish(self, sid, request: gr.Request):
        """Close the quiz -> score, per-group table, progress plot, printable summary."""
        user, lang = enter(self.ctx, request, Permission.TAKE_QUIZ)
        service = self.ctx.quiz
        with user_errors(lang):
            report = service.finish(user.name, session_of(sid, lang))
        name_of = namer(self.ctx.catalogue(), lang)
        md, page = printable(self.ctx, user, report, lang)
        rows = [[name_of(g), s.correct, s.total, f"{s.rate:.0%}"]
                for g, s in report.summary.per_group.items()]
        headers = [t(f"app.quiz.col.{c}", lang) for c in ("group", "right", "total", "rate")]
        lines = [m.render(lang) for m in summary_messages(report.summary, name_of)]
        rule = certificate = ""
        if report.certification is not None:
            rule = certification_html(report.certification, certification_messages(report.certification)[0], lang)
        if report.certificate is not None:
            certificate = certificate_line(report, syllabus_label(self.ctx, report.certificate.syllabus, lang), lang)
        text = summary_html(t("app.quiz.summary.heading", lang), lines, rule, certificate)
        return (text, gr.update(value={"headers": headers, "data": rows}, visible=True),
                gr.update(value=progress_figure(service.progress(user.name), lang), visible=True),
                [self.ctx.exports.write(user.name, "quiz-summary", "md", md),
                 self.ctx.exports.write(user.name, "quiz-summary", "html", page)])

    def summary_if_done(self, data, sid, request: gr.Request):
        if not (isinstance(data, dict) and data.get("finished")):
            return no_change(SUMMARY_OUTPUTS)
        return self.quiz_finish(sid, request)


def build_quiz_tab(ctx, texts: Texts) -> QuizHandlers:
    """Lay out the tab and wire its events to a `QuizHandlers`, returned for tests."""
    h = QuizHandlers(ctx)
    texts.value(gr.Markdown(), "app.quiz.intro")
    with gr.Row():
        syllabus = texts.choices(gr.Dropdown(choices=syllabus_options(ctx, "en"), value="all"),
                                 "app.quiz.syllabus.label", lambda lang: syllabus_options(ctx, lang))
        length = texts.label(gr.Slider(1, 50, value=10, step=1), "app.quiz.length.label")
        levels = [d.value for d in Difficulty]
        difficulty = texts.choices(gr.Radio(choices=levels, value="medium"),
                                   "app.quiz.difficulty.label",
                                   option_list("app.quiz.difficulty.", levels))
    with gr.Row():
        law = texts.label(gr.Checkbox(value=True), "app.quiz.law.label")
        styles = [n.value for n in NameStyle]
        names = texts.choices(gr.Radio(choices=styles, value="common"), "app.quiz.names.label",
                              option_list("app.quiz.names.", styles))
    with gr.Row():
        start = texts.value(gr.Button(variant="primary"), "app.quiz.start")
        resume = texts.value(gr.Button(), "app.quiz.resume")
    session_id = gr.Number(visible=False, precision=0)
    question_id = gr.Number(visible=False, precision=0)
    question = gr.JSON(visible=False)
    progress = gr.Markdown()
    with gr.Row():
        photo = texts.label(gr.Image(type="pil", interactive=False, height=PHOTO_SIDE),
                            "app.quiz.photo.label")
        with gr.Column():
            prompt = gr.Markdown()
            choices = texts.label(gr.Radio(choices=[]), "app.quiz.choices.label")
            show_heat = texts.label(gr.Checkbox(value=False), "app.quiz.heatmap.label")
            answer = texts.value(gr.Button(variant="primary"), "app.quiz.answer")
    result = gr.JSON(visible=False)
    verdict = gr.HTML()  # right or wrong by colour, icon and words, and the answer's lesson
    with gr.Row():
        compare = texts.label(gr.Image(type="pil", interactive=False, visible=False),
                              "app.quiz.compare.label")
        heat = texts.label(gr.Image(type="pil", interactive=False, visible=False),
                           "app.quiz.heatmap.image")
    with gr.Accordion(open=False) as card_box:
        card = gr.Markdown()
    texts.section(card_box, "app.quiz.card.label", visible=lambda u: True)
    with gr.Row():
        next_q = texts.value(gr.Button(), "app.quiz.next")
        finish = texts.value(gr.Button(), "app.quiz.finish")
    summary = gr.HTML()
    groups = texts.label(gr.Dataframe(interactive=False, visible=False), "app.quiz.groups.label")
    plot = texts.label(gr.Plot(visible=False), "app.quiz.plot.label")
    files = texts.label(gr.File(file_count="multiple", interactive=False),
                        "app.quiz.download.label")

    q_out = [session_id, question_id, question, progress, photo, prompt, choices,
             result, verdict, compare, heat, card]
    s_out = [summary, groups, plot, files]
    assert len(q_out) == QUESTION_OUTPUTS and len(s_out) == SUMMARY_OUTPUTS

    start.click(h.quiz_start, [syllabus, length, difficulty, law, names], q_out,
                api_name="quiz_start")
    resume.click(h.quiz_resume, None, q_out, api_name="quiz_resume")
    next_q.click(h.quiz_next, [session_id], q_out, api_name="quiz_next")
    answer.click(h.quiz_answer, [session_id, question_id, choices, show_heat],
                 [result, verdict, compare, heat, card], api_name="quiz_answer").success(
        h.summary_if_done, [result, session_id], s_out, api_visibility="private")
    finish.click(h.quiz_finish, [session_id], s_out, api_name="quiz_finish")
    return h
