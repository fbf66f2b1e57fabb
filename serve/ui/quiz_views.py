"""What the Quiz tab shows after an answer and at the end, as HTML.

* `feedback_html` - right or wrong, told by colour **and** an icon and words (never by colour
  alone), the right answer when it was missed, and the lesson of the answer: the cue that
  separates the species on the photo from the one it is compared with
  (`serve.quiz.teaching`), or each species' own cue when the pair has none.
* `summary_html` - the score, the mix-ups, the certification rule in plain words with a
  progress bar, and the certificate when there is one.
* `progress_figure` - the trainee's past quizzes, on whole-number axes.

No handlers here: plain values in, strings (or a figure) out; every word through `t`.
"""
from __future__ import annotations

import html
import re
from typing import Callable, Sequence

from serve.i18n import Message, t, typeset
from serve.quiz.schedule import CertificationResult
from serve.quiz.teaching import Lesson

RIGHT = {"icon": "\u2705", "style": "border-left:6px solid #1a7f37;background:#e8f5ec;color:#0b3d1c"}
WRONG = {"icon": "\u274c", "style": "border-left:6px solid #b42318;background:#fdecea;color:#5f1410"}
BOX = "padding:0.6em 0.9em;border-radius:6px;margin:0.4em 0"


def rich(text: str) -> str:
    """Escape `text` for HTML, then turn its Markdown **bold** into <strong>."""
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))


def lesson_html(lesson: Lesson, name_of: Callable[[str], str], lang: str) -> str:
    names = {"true_name": name_of(lesson.shown), "chosen_name": name_of(lesson.other)}
    if lesson.cue is not None:
        return f'<p class="quiz-lesson">{rich(t("app.quiz.cue", lang, cue=lesson.cue, **names))}</p>'
    items = "".join(f"<li>{rich(t('app.quiz.own_cue', lang, name=name_of(c), cue=cue))}</li>"
                    for c, cue in ((lesson.shown, lesson.shown_cue), (lesson.other, lesson.other_cue)) if cue)
    return (f'<p class="quiz-lesson">{rich(t("app.quiz.cue_missing", lang, **names))}</p>'
            f'<ul class="quiz-lesson">{items}</ul>')


def feedback_html(correct: bool, messages: Sequence[Message], lesson: Lesson | None,
                  name_of: Callable[[str], str], lang: str) -> str:
    """The verdict box: icon + words + colour, the right answer when missed, the lesson."""
    look = RIGHT if correct else WRONG
    head, *rest = [m.render(lang) for m in messages]
    expected = f' <span class="quiz-expected">{rich(rest[0])}</span>' if rest else ""
    body = lesson_html(lesson, name_of, lang) if lesson is not None else ""
    return (f'<div class="quiz-feedback" data-correct="{str(correct).lower()}" role="status" '
            f'style="{look["style"]};{BOX}">'
            f'<p class="quiz-verdict" style="font-size:1.15em;margin:0 0 0.3em">'
            f'<span aria-hidden="true">{look["icon"]}</span> <strong>{rich(head)}</strong>{expected}</p>'
            f"{body}</div>")


def certification_html(result: CertificationResult, message: Message, lang: str) -> str:
    """The rule in plain words and a bar of the species done."""
    done, total = len(result.done), len(result.per_class)
    label = html.escape(t("app.quiz.cert.bar", lang))
    return (f'<div class="quiz-certification"><p>{rich(message.render(lang))}</p>'
            f'<progress value="{done}" max="{max(total, 1)}" aria-label="{label}" '
            f'style="width:100%;height:1.2em">{done}/{total}</progress></div>')


def summary_html(heading: str, lines: Sequence[str], certification: str = "", certificate: str = "") -> str:
    score, *mixups = lines
    items = "".join(f"<li>{rich(x)}</li>" for x in mixups)
    return (f'<div class="quiz-summary"><h2>{html.escape(heading)}</h2><p class="quiz-score">{rich(score)}</p>'
            + (f"<ul>{items}</ul>" if items else "") + certification
            + (f"<p>{rich(certificate)}</p>" if certificate else "") + "</div>")


def progress_figure(points: Sequence[tuple], lang: str):
    """Share of right answers per past quiz: quizzes numbered 1, 2, 3... and percentages in
    whole tens (no "0.5 quiz" or "0.875" on an axis)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, MultipleLocator

    fig = Figure(figsize=(6, 2.8), dpi=100)
    ax = fig.add_subplot()
    xs = list(range(1, len(points) + 1))
    ax.plot(xs, [100 * r / n for _, _, r, n in points], marker="o")
    step = max(1, -(-len(xs) // 10))  # at most ~10 labelled quizzes
    ax.xaxis.set_major_locator(FixedLocator(xs[::step] or [1]))
    ax.set_xlim(0.5, max(len(xs), 1) + 0.5)
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_locator(MultipleLocator(20))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: typeset(f"{v:.0f}%", lang)))
    ax.set_xlabel(t("app.quiz.plot.x", lang))
    ax.set_ylabel(t("app.quiz.plot.y", lang))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
