"""The quiz teaches on every answer (issue 17 item 5): hard questions hold only catalogue
look-alikes of one another (real catalogue and photos), every answer - right or wrong - gets
the cue separating two species, the verdict is told by colour, icon and words, the
certification rule reads plainly with a progress bar, and the progress plot has
whole-number axes."""
from __future__ import annotations

import itertools
import random
import re

import pytest

from serve.i18n import t
from serve.quiz.engine import Difficulty, LeitnerState, QuestionKind, QuizClass, QuizPool, next_question
from serve.quiz.schedule import certification_check, certification_messages
from serve.quiz.teaching import lesson
from serve.ui.quiz_views import certification_html, feedback_html, progress_figure
from species_data import load_catalogue


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.fixture(scope="module")
def pool(catalogue, photos_root):
    """The real catalogue as the quiz sees it, with the real photo folders' classes."""
    classes = [QuizClass(e.id, e.group, e.appendix, e.kind, e.lookalike_ids) for e in catalogue]
    photos = {d.name: [f"{d.name}/{p.name}" for p in sorted(d.iterdir())][:12]
              for d in photos_root.iterdir() if d.is_dir() and d.name in catalogue}
    return QuizPool.build(classes, photos)


def test_hard_questions_offer_only_lookalikes_with_a_separating_cue(pool, catalogue):
    """No "Rhino horn" or "Puma" against a bear: every two choices of a hard question are
    catalogue look-alikes, so whichever is right and whichever is picked, a cue separates them."""
    ids = [c for c in pool.classes if pool.photos.get(c)]
    rng = random.Random(11)
    asked = set()
    for _ in range(300):
        q = next_question(pool, ids, LeitnerState(), 0, rng, difficulty=Difficulty.HARD)
        assert 2 <= len(q.choices) <= 4
        for a, b in itertools.combinations(q.choices, 2):
            assert catalogue.link(a, b) is not None, (q.answer, q.choices)
        asked.add(q.answer)
    assert "bear" in asked and "tiger" not in asked  # a bear is asked (against the giant panda); a tiger has no look-alike with photos
    bear = [next_question(pool, ["bear"], LeitnerState(), 0, random.Random(s), difficulty=Difficulty.HARD)
            for s in range(10)]
    assert {frozenset(q.choices) for q in bear} == {frozenset({"bear", "giant_panda"})}


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_every_answer_right_or_wrong_is_taught_with_a_cue(catalogue, lang):
    choices = ("ivory_carving", "bone_carving", "tiger", "porcelain_ware")
    wrong = lesson(catalogue, "ivory_carving", "bone_carving", choices, lang)
    assert (wrong.shown, wrong.other) == ("ivory_carving", "bone_carving")
    assert wrong.cue == catalogue.link("ivory_carving", "bone_carving").cue_in(lang).value
    right = lesson(catalogue, "ivory_carving", "ivory_carving", choices, lang)
    assert right.other in {"bone_carving", "porcelain_ware"} and right.cue  # a look-alike, not the tiger
    unrelated = lesson(catalogue, "tiger", "ceramic_ware", ("tiger", "ceramic_ware"), lang)
    assert unrelated.cue is None  # no look-alike cue: each species' own first cue instead
    assert unrelated.shown_cue == catalogue["tiger"].cues_in(lang).value[0]
    assert unrelated.other_cue == catalogue["ceramic_ware"].cues_in(lang).value[0]
    assert not (wrong.in_english or right.in_english or unrelated.in_english)


def test_right_and_wrong_stand_out_by_colour_icon_and_words(catalogue):
    from serve.i18n import Message

    name = lambda c: catalogue[c].common_name("en")  # noqa: E731
    taught = lesson(catalogue, "ivory_carving", "bone_carving", ("ivory_carving", "bone_carving"), "en")
    wrong = feedback_html(False, [Message("quiz.feedback.wrong"), Message("quiz.choice.species",
                          {"name": name("ivory_carving")})], taught, name, "en")
    right = feedback_html(True, [Message("quiz.feedback.correct")],
                          lesson(catalogue, "ivory_carving", "ivory_carving", ("ivory_carving", "bone_carving"), "en"),
                          name, "en")
    assert 'data-correct="false"' in wrong and "\u274c" in wrong and "#b42318" in wrong
    assert 'data-correct="true"' in right and "\u2705" in right and "#1a7f37" in right
    for page in (wrong, right):  # words as well as colour, and the cue of the pair in both
        assert 'role="status"' in page and "<strong>How to tell" in page
        assert "Bone" in page or "bone" in page
    assert t("quiz.feedback.wrong") in wrong and name("ivory_carving") in wrong
    assert t("quiz.feedback.correct") in right


def test_the_certification_rule_reads_plainly_with_a_progress_bar():
    from serve.quiz.schedule import Answer

    def ans(cid, ok, at=0):
        return Answer("q", QuestionKind.IDENTIFY, cid, "g", cid if ok else "x", ok, at)
    history = [ans("a", True)] * 8 + [ans("b", True)] * 3
    result = certification_check(history, ["a", "b", "c"])
    message = certification_messages(result)[0]
    assert message.render("en") == ("To certify: 1 of 3 species done; each needs its last 8 answers "
                                    "at 85% right or better.")
    page = certification_html(result, message, "en")
    assert re.search(r'<progress value="1" max="3" aria-label="[^"]+"', page)


def test_the_progress_plot_has_whole_number_axes():
    import datetime as dt

    points = [(i, dt.datetime(2026, 1, i + 1), r, 8) for i, r in enumerate([3, 5, 8], start=1)]
    fig = progress_figure(points, "en")
    ax = fig.axes[0]
    xs = [tick for tick in ax.get_xticks() if ax.get_xlim()[0] <= tick <= ax.get_xlim()[1]]
    assert xs == [1, 2, 3]
    low, high = ax.get_ylim()
    ys = [y for y in ax.get_yticks() if low <= y <= high]
    assert ys == [0, 20, 40, 60, 80, 100]  # percentages in whole tens
    assert ax.yaxis.get_major_formatter()(80, 0) == "80%"
    one = progress_figure(points[:1], "en").axes[0]
    assert [x for x in one.get_xticks() if one.get_xlim()[0] <= x <= one.get_xlim()[1]] == [1]
