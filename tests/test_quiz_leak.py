"""bench/quiz_leak.py in its short form: guessers who read only the species cards, the
model's confusion matrix or which classes have photos answer the real engine's questions
(real catalogue, the test bundle's confusion rates) no better than chance (issue 14 item 3).
The full run (2,000 questions per difficulty) holds each within 5 points."""
from __future__ import annotations


def test_no_public_information_beats_chance(model_bundle, capsys):
    from bench import quiz_leak

    rows = quiz_leak.main(["--questions", "600", "--bundle", str(model_bundle)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("guesser accuracy: look-alike lists ")
    assert [r.difficulty for r in rows] == ["easy", "medium", "hard"]
    for r in rows:
        assert r.questions == 600
        if r.difficulty == "hard":  # look-alikes of one another: 2 to 4 choices as the catalogue has them
            assert 0.25 <= r.chance <= 0.5
        else:
            assert abs(r.chance - 0.25) < 1e-9
        for guessed in (r.lookalike, r.confusion, r.photos):
            assert abs(guessed - r.chance) < 0.07, r  # ~4 standard errors at 600 questions
    easy, medium, hard = rows
    assert easy.linked < medium.linked < hard.linked  # harder questions hold closer classes
