"""serve.quiz.engine and serve.quiz.schedule: syllabus, distractors, photos, Leitner boxes,
mastery, certification, summary. Deterministic: every rng is seeded."""
from __future__ import annotations

import copy
import itertools
import dataclasses
import json
import pickle
import random

import pytest

from serve.quiz.engine import (
    APPENDIX_CHOICES,
    NEXT_STEPS,
    Answer,
    Difficulty,
    LeitnerState,
    NameStyle,
    PoolExhausted,
    QuestionKind,
    QuizClass,
    QuizError,
    QuizPool,
    Syllabus,
    SyllabusScope,
    certification_check,
    certification_messages,
    choice_message,
    feedback,
    grade,
    make_question,
    mastery,
    next_class,
    next_question,
    record,
    summarise,
    summary_messages,
    trainee_confusions,
)
from serve.quiz.choices import CLOSE, QuizChoiceError, closeness, choose_choices, cue_linked, draw_answer, paired
from serve.quiz.schedule import INTERVALS, N_BOXES, CardState
from species_data.catalogue import Appendix, Kind

# Pangolins (4), parrots (3), reptiles (3): the white-bellied pangolin has one catalogue
# look-alike and is confused by the model with the tree pangolin... and a python.
CLASSES = [
    QuizClass("pangolin_white", "pangolins", "I", Kind.PART_OR_PRODUCT, ("pangolin_black",), product=True),
    QuizClass("pangolin_black", "pangolins", "I", Kind.WHOLE_ANIMAL),
    QuizClass("pangolin_giant", "pangolins", "I", Kind.WHOLE_ANIMAL),
    QuizClass("pangolin_sunda", "pangolins", "I", Kind.WHOLE_ANIMAL),
    QuizClass("parrot_grey", "parrots", "I", Kind.WHOLE_ANIMAL),
    QuizClass("parrot_amazon", "parrots", "II", Kind.WHOLE_ANIMAL),
    QuizClass("parrot_budgie", "parrots", None, Kind.WHOLE_ANIMAL),
    QuizClass("python_reticulated", "reptiles", "II", Kind.PART_OR_PRODUCT, product=True),
    QuizClass("tortoise_star", "reptiles", "I", Kind.WHOLE_ANIMAL, ("pangolin_white",)),
    QuizClass("gecko_tokay", "reptiles", "none", Kind.WHOLE_ANIMAL),
]
PHOTOS = {c.id: [f"{c.id}-{i}" for i in range(3)] for c in CLASSES}
CONFUSION = {
    ("pangolin_white", "pangolin_giant"): 0.05,
    ("python_reticulated", "pangolin_white"): 0.12,  # other direction, higher rate
    ("pangolin_white", "pangolin_white"): 0.8,  # diagonal: ignored
}
POOL = QuizPool.build(CLASSES, PHOTOS, CONFUSION)
ALL_IDS = Syllabus().eligible(POOL)


def _ans(class_id: str, correct: bool, at: int = 0, chosen: str | None = None,
         group: str = "g", kind: QuestionKind = QuestionKind.IDENTIFY) -> Answer:
    return Answer(f"q{at}", kind, class_id, group, chosen or class_id, correct, at)


# --- records and pool ------------------------------------------------------------------


def test_quiz_class_normalises_appendix_and_rejects_bad_values():
    assert POOL.classes["gecko_tokay"].appendix is Appendix.NONE
    assert POOL.classes["parrot_amazon"].appendix is Appendix.II
    assert POOL.classes["parrot_budgie"].kind is Kind.WHOLE_ANIMAL
    with pytest.raises(ValueError, match="'IV'"):
        QuizClass("x", "g", "IV", Kind.WHOLE_ANIMAL)
    with pytest.raises(ValueError, match="group"):
        QuizClass("x", "", None, Kind.WHOLE_ANIMAL)


def test_pool_build_names_bad_input():
    with pytest.raises(ValueError, match="twice"):
        QuizPool.build(CLASSES + [CLASSES[0]], {})
    with pytest.raises(ValueError, match="'dodo'"):
        QuizPool.build(CLASSES, {"dodo": ["d1"]})
    with pytest.raises(ValueError, match="'p1'"):
        QuizPool.build(CLASSES, {"pangolin_white": ["p1"], "pangolin_black": ["p1"]})
    with pytest.raises(ValueError, match="need >= 0"):
        QuizPool.build(CLASSES, {}, {("pangolin_white", "parrot_grey"): -0.1})


def test_pool_is_read_only_but_copyable():
    with pytest.raises(TypeError):
        POOL.classes["x"] = CLASSES[0]  # type: ignore[index]
    assert copy.deepcopy(POOL) == POOL and pickle.loads(pickle.dumps(POOL)) == POOL


# --- syllabus --------------------------------------------------------------------------


def test_syllabus_scopes():
    assert set(ALL_IDS) == {c.id for c in CLASSES}
    assert set(Syllabus(SyllabusScope.GROUP, "parrots").eligible(POOL)) == {
        "parrot_grey", "parrot_amazon", "parrot_budgie"}
    app_i = Syllabus(SyllabusScope.APPENDIX_I).eligible(POOL)
    assert set(app_i) == {c.id for c in CLASSES if c.appendix is Appendix.I}
    assert set(Syllabus(SyllabusScope.PRODUCTS).eligible(POOL)) == {
        "pangolin_white", "python_reticulated"}


def test_syllabus_needs_photos_and_a_big_enough_pool():
    photos = dict(PHOTOS, parrot_grey=[])
    assert "parrot_grey" not in Syllabus().eligible(QuizPool.build(CLASSES, photos))
    small = QuizPool.build(CLASSES[:3], {c.id: ["p" + c.id] for c in CLASSES[:3]})
    assert Syllabus().eligible(small) == ()
    with pytest.raises(QuizError, match="wider syllabus"):
        next_question(small, (), LeitnerState(), 0, random.Random(0))


def test_group_scope_requires_group():
    with pytest.raises(ValueError, match="GROUP"):
        Syllabus(SyllabusScope.GROUP)
    with pytest.raises(ValueError, match="GROUP"):
        Syllabus(SyllabusScope.ALL, "parrots")


# --- distractors -----------------------------------------------------------------------


def test_closeness_counts_lookalikes_confusions_groups_and_the_trainees_own():
    near = closeness(POOL)
    assert near("pangolin_white", "pangolin_black") == near("pangolin_black", "pangolin_white") == 2.5
    assert near("pangolin_white", "tortoise_star") == 2.0  # listed on the tortoise's card only
    assert near("pangolin_white", "python_reticulated") == pytest.approx(1.2)  # model confusion
    assert near("pangolin_white", "pangolin_sunda") == 0.5  # same group only: not close
    assert near("pangolin_white", "parrot_grey") == 0.0
    assert closeness(POOL, [("pangolin_white", "parrot_grey")])("parrot_grey", "pangolin_white") == 3.0


def test_hard_choices_are_catalogue_lookalikes_of_one_another():
    """Whichever choice is the answer and whichever is picked, the catalogue has the cue that
    separates them: no class only the model confuses (a python) or only the same group."""
    linked = cue_linked(POOL)
    drawn = set()
    for seed in range(20):
        choices = choose_choices(POOL, "pangolin_white", ALL_IDS, Difficulty.HARD, random.Random(seed))
        assert choices[0] == "pangolin_white" and len(choices) == 2  # black and tortoise are not look-alikes
        assert all(linked(a, b) for a, b in itertools.combinations(choices, 2))
        drawn.add(choices[1])
    assert drawn == {"pangolin_black", "tortoise_star"}
    with pytest.raises(QuizChoiceError, match="no look-alike"):
        choose_choices(POOL, "parrot_grey", ALL_IDS, Difficulty.HARD, random.Random(0))
    assert set(paired(POOL, ALL_IDS)) == {"pangolin_white", "pangolin_black", "tortoise_star"}


def test_hard_quizzes_ask_only_about_lookalike_pairs_and_say_when_there_are_none():
    rng = random.Random(3)
    for _ in range(200):
        q = next_question(POOL, ALL_IDS, LeitnerState(), 0, rng, difficulty=Difficulty.HARD,
                          kinds=(QuestionKind.IDENTIFY, QuestionKind.APPENDIX))
        if q.kind is QuestionKind.IDENTIFY:
            assert q.answer in {"pangolin_white", "pangolin_black", "tortoise_star"}
    with pytest.raises(QuizError, match="no hard question"):
        next_question(POOL, ["parrot_grey", "parrot_amazon"], LeitnerState(), 0, random.Random(0),
                      difficulty=Difficulty.HARD)
    law = next_question(POOL, ["parrot_grey"], LeitnerState(), 0, random.Random(0), difficulty=Difficulty.HARD,
                        kinds=(QuestionKind.IDENTIFY, QuestionKind.APPENDIX))
    assert law.kind is QuestionKind.APPENDIX  # no pair: a law question takes the turn


def test_medium_choices_are_two_pairs_of_lookalikes_far_apart():
    near = closeness(POOL)
    for seed in range(20):
        a, b, c, d = choose_choices(POOL, "pangolin_white", ALL_IDS, Difficulty.MEDIUM,
                                    random.Random(seed))
        assert near(a, b) >= CLOSE  # the target's pair
        assert near(c, a) < CLOSE and near(c, b) < CLOSE  # the second pair starts far away


def test_easy_choices_are_unrelated_to_one_another():
    near = closeness(POOL)
    for seed in range(20):
        choices = choose_choices(POOL, "pangolin_white", ALL_IDS, Difficulty.EASY, random.Random(seed))
        assert all(near(x, y) < CLOSE for i, x in enumerate(choices) for y in choices[i + 1:])


def test_choices_come_from_answerable_classes_first():
    answerable = ["pangolin_white", "parrot_grey", "parrot_amazon", "gecko_tokay", "python_reticulated",
                  "tortoise_star"]
    for difficulty in Difficulty:
        choices = choose_choices(POOL, "pangolin_white", answerable, difficulty, random.Random(1))
        assert set(choices) <= set(answerable)
    few = choose_choices(POOL, "pangolin_white", ["pangolin_white", "parrot_grey"], Difficulty.MEDIUM,
                         random.Random(1))
    assert len(few) == 4 and {"pangolin_white", "parrot_grey"} <= set(few)  # filled from the rest
    assert {draw_answer(few, ["pangolin_white", "parrot_grey"], random.Random(s))
            for s in range(20)} == {"pangolin_white", "parrot_grey"}


def test_the_answer_is_any_member_of_the_cluster_equally_often():
    """Given the choices, each is the answer as often as the others (issue 14 item 3): a
    guesser with a fixed rule (the first, or the last, choice by name) scores chance."""
    for difficulty, members in ((Difficulty.MEDIUM, 4), (Difficulty.HARD, 2)):
        rng = random.Random(5)
        questions = [next_question(POOL, ALL_IDS, LeitnerState(), 0, rng, difficulty=difficulty)
                     for _ in range(3000)]
        assert {len(q.choices) for q in questions} == {members}
        for rule in (min, max):
            share = sum(rule(q.choices) == q.answer for q in questions) / len(questions)
            assert abs(share - 1 / members) < 0.04, (difficulty, rule, share)


def test_too_few_classes_for_the_choices_is_a_clear_error():
    small = QuizPool.build(CLASSES[:3], {c.id: PHOTOS[c.id] for c in CLASSES[:3]})
    with pytest.raises(QuizError, match="only 2 other classes"):
        make_question(small, "pangolin_white", QuestionKind.IDENTIFY, random.Random(0))


def test_questions_are_deterministic_given_the_seed():
    a = make_question(POOL, "parrot_grey", QuestionKind.IDENTIFY, random.Random(42))
    b = make_question(POOL, "parrot_grey", QuestionKind.IDENTIFY, random.Random(42))
    assert a == b
    assert a.answer == "parrot_grey" and a.answer in a.choices
    assert len(set(a.choices)) == 4


# --- photos ----------------------------------------------------------------------------


def test_a_session_never_repeats_a_photo_and_ends_clearly():
    rng, state, seen = random.Random(3), LeitnerState(), []
    total = sum(len(v) for v in PHOTOS.values())
    with pytest.raises(PoolExhausted, match=f"all {total} photos.*new session"):
        for now in range(total + 1):
            q = next_question(POOL, ALL_IDS, state, now, rng, seen_photo_ids=seen)
            seen.append(q.photo_id)
            state = record(state, q.class_id, now % 3 != 0, now)
    assert len(seen) == total == len(set(seen))


def test_make_question_names_the_exhausted_class():
    with pytest.raises(PoolExhausted, match="'parrot_grey'"):
        make_question(POOL, "parrot_grey", QuestionKind.IDENTIFY, random.Random(0),
                      seen_photo_ids=set(PHOTOS["parrot_grey"]))


# --- question kinds, public view, grading ----------------------------------------------


@pytest.mark.parametrize("class_id, appendix, protected, step", [
    ("pangolin_white", "I", "prohibited", "detain_and_refer"),
    ("parrot_amazon", "II", "permit", "check_export_permit"),
    ("gecko_tokay", "none", "not_listed", "clear_normally"),
])
def test_regulation_questions(class_id, appendix, protected, step):
    rng = random.Random(1)
    q = make_question(POOL, class_id, QuestionKind.APPENDIX, rng, name_of=str.upper)
    assert q.choices == APPENDIX_CHOICES and q.answer == appendix
    assert class_id.upper() in q.prompt.render()
    q = make_question(POOL, class_id, QuestionKind.PROTECTED, rng)
    assert q.answer == protected and q.answer in q.choices
    q = make_question(POOL, class_id, QuestionKind.NEXT_STEP, rng)
    assert q.answer == step and len(set(q.choices)) == 4
    assert set(q.choices) <= set(NEXT_STEPS)


def test_appendix_iii_steps():
    pool = QuizPool.build(CLASSES + [QuizClass("civet", "mammals", "III", Kind.WHOLE_ANIMAL)],
                          dict(PHOTOS, civet=["c1"]))
    q = make_question(pool, "civet", QuestionKind.NEXT_STEP, random.Random(0))
    assert q.answer == "check_origin_certificate"


def test_public_view_has_no_answer():
    q = make_question(POOL, "pangolin_white", QuestionKind.IDENTIFY, random.Random(0))
    public = q.public_view()
    fields = {f.name for f in dataclasses.fields(public)}
    assert fields.isdisjoint({"answer", "class_id", "group"})
    assert "pangolin_white" in public.choices and public.photo_id == q.photo_id
    assert "answer=" not in repr(q)


def test_name_style_flag_and_prompt():
    q = make_question(POOL, "parrot_grey", QuestionKind.IDENTIFY, random.Random(0),
                      names=NameStyle.SCIENTIFIC)
    assert q.names is NameStyle.SCIENTIFIC and q.public_view().names is NameStyle.SCIENTIFIC
    assert q.prompt.key == "quiz.prompt.identify.scientific"


def test_grade_and_feedback():
    q = make_question(POOL, "parrot_grey", QuestionKind.IDENTIFY, random.Random(0))
    wrong = next(c for c in q.choices if c != q.answer)
    right_answer = grade(q, "parrot_grey", 5)
    assert right_answer.correct and right_answer.at == 5 and right_answer.group == "parrots"
    assert [m.key for m in feedback(q, right_answer)] == ["quiz.feedback.correct"]
    bad = grade(q, wrong, 6)
    assert not bad.correct
    msgs = feedback(q, bad, name_of=lambda c: f"<{c}>")
    assert msgs[1].render() == "<parrot_grey>"
    with pytest.raises(QuizError, match="'dodo' is not one of the choices"):
        grade(q, "dodo", 7)


def test_every_choice_and_prompt_renders_in_english():
    rng = random.Random(0)
    for kind in QuestionKind:
        for cid in ALL_IDS:
            q = make_question(POOL, cid, kind, rng)
            assert q.prompt.render()
            for c in q.choices:
                assert choice_message(q.public_view(), c).render()


# --- Leitner scheduler -----------------------------------------------------------------


def test_right_moves_up_wrong_goes_to_box_1():
    s = LeitnerState()
    for now in range(N_BOXES + 2):
        s = record(s, "a", True, now)
    assert s.card("a").box == N_BOXES
    s = record(s, "a", False, 10)
    card = s.card("a")
    assert card.box == 1 and card.due == 10 + INTERVALS[0] and card.lapses == 1


def test_wrong_answer_comes_back_sooner_than_a_mastered_class():
    ids = [f"c{i}" for i in range(6)]
    s = LeitnerState()
    now = 0
    for cid in ids:  # every class at box 3, then "weak" is missed and "strong" mastered
        for _ in range(2):
            s = record(s, cid, True, now)
            now += 1
    s = record(s, "c0", False, now)  # weak
    s = record(s, "c1", True, now + 1)  # strong, box 4
    now += 2
    first_seen: dict[str, int] = {}
    rng = random.Random(5)
    for step in range(now, now + 40):
        cid = next_class(s, ids, step, rng)
        first_seen.setdefault(cid, step)
        s = record(s, cid, True, step)
    assert first_seen["c0"] < first_seen.get("c1", 10**9)
    assert first_seen["c0"] - now <= INTERVALS[0] + 2


def test_unseen_classes_are_due_and_no_immediate_repeat():
    s = record(LeitnerState(), "a", False, 0)
    picks = {next_class(s, ["a", "b", "c"], 1, random.Random(i)) for i in range(30)}
    assert "a" not in picks  # asked at clock 0, not repeated at clock 1
    assert next_class(s, ["a"], 1, random.Random(0)) == "a"  # unless it is the only one
    with pytest.raises(ValueError, match="syllabus"):
        next_class(s, [], 1, random.Random(0))


def test_weak_classes_are_drawn_more_often_when_all_due():
    s = LeitnerState({"weak": CardState(box=1, due=0, lapses=2),
                      "strong": CardState(box=4, due=0)})
    picks = [next_class(s, ["weak", "strong"], 100, random.Random(i)) for i in range(200)]
    assert picks.count("weak") > 3 * picks.count("strong")


def test_confused_pairs_are_tracked_and_retired():
    s = record(LeitnerState(), "a", False, 0, chosen="b")
    s = record(s, "a", False, 1, chosen="c")
    s = record(s, "a", False, 2, chosen="b")
    assert s.pairs[("a", "b")].count == 2 and s.pairs[("a", "b")].box == 1
    assert trainee_confusions(s, "a") == ("b", "c")
    for now in range(3, 3 + N_BOXES):
        s = record(s, "a", True, now)
    assert ("a", "b") not in s.pairs


def test_trainee_confusions_become_distractors():
    s = record(LeitnerState(), "pangolin_white", False, 0, chosen="parrot_budgie")
    q = next_question(POOL, ["pangolin_white"], s, 3, random.Random(0),
                      difficulty=Difficulty.MEDIUM)
    assert "parrot_budgie" in q.choices


def test_state_round_trips_through_json_and_is_pure():
    s0 = LeitnerState()
    s1 = record(s0, "a", False, 0, chosen="b")
    s2 = record(s1, "c", True, 1)
    assert s0.cards == {} and "c" not in s1.cards  # old states unchanged
    restored = LeitnerState.from_dict(json.loads(json.dumps(s2.to_dict())))
    assert restored == s2
    with pytest.raises(TypeError):
        s2.cards["x"] = CardState()  # type: ignore[index]
    assert copy.deepcopy(s2) == s2 and pickle.loads(pickle.dumps(s2)) == s2  # e.g. gr.State


def test_bad_stored_state_is_named():
    with pytest.raises(ValueError, match="version"):
        LeitnerState.from_dict({"scheme": "sm2", "version": 1})
    good = record(LeitnerState(), "a", True, 0).to_dict()
    good["cards"]["a"]["box"] = 9
    with pytest.raises(ValueError, match="box 9"):
        LeitnerState.from_dict(good)


# --- mastery, certification, summary ---------------------------------------------------


def test_mastery_uses_the_last_n_answers():
    history = [_ans("a", False, 0)] * 3 + [_ans("a", True, 1)] * 4 + [_ans("b", True, 2)]
    m = mastery(history, ["a", "b", "c"], last_n=4)
    assert m == {"a": 1.0, "b": 1.0, "c": 0.0}
    assert mastery(history, ["a"], last_n=5)["a"] == pytest.approx(0.8)


def _seven_of_eight(cid: str) -> list[Answer]:
    return [_ans(cid, False)] + [_ans(cid, True)] * 7


def test_certification_boundary():
    history = _seven_of_eight("a") + _seven_of_eight("b")
    assert certification_check(history, ["a", "b"], threshold=0.875, last_n=8).passed
    assert not certification_check(history, ["a", "b"], threshold=0.876, last_n=8).passed
    assert certification_check(history, ["a", "b"]).passed  # default 0.85 over 8
    six = [_ans("a", False)] * 2 + [_ans("a", True)] * 6
    result = certification_check(six + _seven_of_eight("b"), ["a", "b"])
    assert not result.passed and result.per_class["a"] == 0.75 and result.missing_classes == ()


def test_certification_lists_classes_with_too_few_answers():
    history = _seven_of_eight("a") + [_ans("b", True)] * 3
    result = certification_check(history, ["a", "b", "c"])
    assert not result.passed and result.missing_classes == ("b", "c")
    assert certification_check(history, ["a", "b"], min_answers=3).passed
    assert result.done == ("a",)
    msg = certification_messages(result)[0]
    assert msg.key == "quiz.certification.not_yet" and (msg.params["done"], msg.params["total"]) == (1, 3)
    assert msg.render() == "To certify: 1 of 3 species done; each needs its last 8 answers at 85% right or better."
    assert msg.render("fr") == ("Pour être certifié\u202f: espèces validées\u202f: 1 sur 3\u202f; chacune doit avoir "
                                "au moins 85\u202f% de bonnes réponses sur ses 8 dernières réponses.")
    with pytest.raises(ValueError, match="threshold"):
        certification_check(history, ["a"], threshold=1.5)


def test_summarise_scores_groups_and_confusions():
    answers = [
        _ans("pangolin_white", True, group="pangolins"),
        _ans("pangolin_white", False, chosen="pangolin_black", group="pangolins"),
        _ans("pangolin_white", False, chosen="pangolin_black", group="pangolins"),
        _ans("parrot_grey", False, chosen="parrot_amazon", group="parrots"),
        _ans("parrot_grey", False, chosen="II", group="parrots", kind=QuestionKind.APPENDIX),
    ]
    s = summarise(answers)
    assert (s.score, s.total) == (1, 5)
    assert s.per_group["pangolins"].correct == 1 and s.per_group["pangolins"].total == 3
    assert s.per_group["parrots"].rate == 0.0
    assert s.confused_pairs == ((("pangolin_white", "pangolin_black"), 2),
                                (("parrot_grey", "parrot_amazon"), 1))
    texts = [m.render() for m in summary_messages(s, name_of=str.title)]
    assert texts[0] == "1 of 5 right."
    assert "Pangolin_White" in texts[1]


def test_answer_round_trips():
    a = _ans("a", True, 3, kind=QuestionKind.NEXT_STEP)
    assert Answer.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    with pytest.raises(ValueError, match="malformed"):
        Answer.from_dict({"class_id": "a"})
