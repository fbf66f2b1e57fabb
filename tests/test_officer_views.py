"""What the officer reads, without a browser: the verdict card (serve/ui/verdict.py), the
batch summary, results and CSV (serve/ui/results.py), the short reasons for unreadable
files, counted words in each language, and the repeat-save rule (serve/records/repeats.py).

Results are built the way the app builds them: a real decision over the packaged
catalogue's classes, through `serve.ui.identify.result_dict`.
"""
from __future__ import annotations

import csv
import io
import re
from html import escape
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from serve.i18n import COMPLETE_LANGUAGES, plural_form, t, tn
from serve.identify.decisions import Thresholds, decide
from serve.identify.predictor import Identification
from serve.records.repeats import REPEAT_WINDOW, repeat_of, saved_recently
from serve.records.case_schema import Case, CaseAction
from serve.records.seizure import Seizure
from serve.ui.identify import result_dict, sheet_class
from serve.ui.results import (REASONS, reason_kind, results_csv, results_html, shown_confidence,
                              summary_text)
from serve.ui.verdict import ICONS, verdict_html

LABELS = ("ivory_carving", "bone_carving", "giant_panda", "bear", "tiger")
GROUPS = {"ivory_carving": "ivory_and_lookalikes", "bone_carving": "ivory_and_lookalikes",
          "giant_panda": "bears", "bear": "bears", "tiger": "big_cats"}
PROTECTED = ("ivory_carving", "giant_panda", "bear", "tiger")
TH = Thresholds(identify=0.7, group=0.8, release={})  # no release: bone carving is never confirmed


@dataclass
class Ctx:
    catalogue_: object

    def catalogue(self):
        return self.catalogue_


@pytest.fixture(scope="module")
def ctx():
    from species_data import PACKAGED_DIR, load_catalogue

    return Ctx(load_catalogue(PACKAGED_DIR))


def ident(probs, name="photo.jpg", sha="a" * 64) -> Identification:
    d = decide(LABELS, probs, GROUPS, TH, protected=PROTECTED,
               lookalikes={"bone_carving": ["ivory_carving"]})
    ranked = tuple(sorted(zip(LABELS, probs), key=lambda x: -x[1]))
    return Identification(name, sha, d, ranked, 0.0, "v9", (640, 480))


IDENTIFIED = (0.93, 0.02, 0.02, 0.02, 0.01)
GROUP = (0.02, 0.02, 0.45, 0.45, 0.06)
CANNOT_RULE_OUT = (0.20, 0.76, 0.02, 0.01, 0.01)
UNKNOWN = (0.30, 0.05, 0.05, 0.05, 0.55)  # tiger on top, but under every threshold


def result(ctx, probs, lang="en", **kw):
    return result_dict(ident(probs, **kw), ctx, lang, list(LABELS))


def test_the_four_kinds_come_out_of_the_rule_as_the_tests_expect(ctx):
    kinds = [result(ctx, p)["decision"] for p in (IDENTIFIED, GROUP, CANNOT_RULE_OUT, UNKNOWN)]
    assert kinds == ["identified", "group", "cannot_rule_out", "unknown"]


# --- the verdict card --------------------------------------------------------------------


@pytest.mark.parametrize("probs", [IDENTIFIED, GROUP, CANNOT_RULE_OUT, UNKNOWN])
def test_the_card_carries_the_kind_as_a_word_an_icon_and_a_colour_class(ctx, probs):
    r = result(ctx, probs)
    html = verdict_html(r, "en", ["one", "two", "three", "four"])
    kind = r["decision"]
    assert f'class="verdict verdict--{kind}"' in html  # the colour (theme.KIND_COLOURS)
    assert f'aria-hidden="true">{ICONS[kind]}</span>' in html  # the icon, hidden from readers
    assert f'<span class="kind-word">{t(f"app.identify.result.{kind}")}</span>' in html  # the word
    assert re.search(r'<h2 class="verdict-title" id="verdict-title">[^<]+</h2>', html)


def test_a_photo_that_is_not_recognised_names_nothing_and_shows_no_number(ctx):
    r = result(ctx, UNKNOWN)
    html = verdict_html(r, "en", ["a step"])
    title = re.search(r'<h2[^>]*>([^<]+)</h2>', html).group(1)
    assert title == t("decision.unknown.not_recognised")
    assert "%" not in html and "Tiger" not in html  # the top class is not shown as an answer
    assert "<ol>" not in html  # no species sheet to follow


def test_a_protected_class_not_ruled_out_is_the_short_title_and_the_details_follow(ctx):
    r = result(ctx, CANNOT_RULE_OUT)
    html = verdict_html(r, "en", ["a step"])
    title = re.search(r'<h2[^>]*>([^<]+)</h2>', html).group(1)
    assert title == "Cannot rule out Elephant ivory carving — treat the item as protected"
    assert len(title) < len(r["advice"][0]) and escape(r["advice"][0]) in html  # the detail follows
    assert "Bone carving" not in title  # the harmless look-alike is never the headline


def test_the_card_shows_the_first_three_steps_and_the_cites_action(ctx):
    r = result(ctx, IDENTIFIED)
    steps = ctx.catalogue()["ivory_carving"].handling_in("en").value
    html = verdict_html(r, "en", steps)
    assert re.findall(r"<li>([^<]+)</li>", html.split("<ol>")[1]) == [
        s.replace("'", "&#x27;") for s in steps[:3]]
    assert t("decision.cites.appendix_i", appendix="I") in html
    assert html.count('class="verdict-warning"') == 2  # the tentative warning and the CITES step


def test_a_hostile_file_name_is_text_not_markup(ctx):
    r = result(ctx, IDENTIFIED, name='<img src=x onerror="alert(1)">.jpg')
    for html in (verdict_html(r, "en"), results_html([r], [{"name": "<b>x</b>.pdf",
                                                             "reason": "is a PDF document"}], "en")):
        assert "<img" not in html and "<b>x" not in html
        assert "&lt;img src=x" in html


def test_the_species_sheet_of_a_protected_look_alike_is_the_protected_class(ctx):
    assert sheet_class(ident(CANNOT_RULE_OUT)) == "ivory_carving"
    assert sheet_class(ident(UNKNOWN)) is None
    assert sheet_class(ident(IDENTIFIED)) == "ivory_carving"


# --- the summary, the results and the CSV --------------------------------------------------


def batch(ctx, lang="en"):
    results = ([result(ctx, IDENTIFIED, lang, name=f"tusk{i}.jpg") for i in range(7)]
               + [result(ctx, UNKNOWN, lang, name=f"bike{i}.jpg") for i in range(2)])
    failures = [{"name": "shipment_manifest.pdf",
                 "reason": "is a PDF document, not a photo; export the page as an image"}]
    return results, failures


def test_the_summary_counts_every_file_and_names_the_unreadable_ones(ctx):
    results, failures = batch(ctx)
    assert summary_text(results, failures, "v9", "en") == (
        "10 photos: 7 identified, 2 not recognised, 1 not readable: shipment_manifest.pdf. Model v9.")
    one = summary_text(results[:1], [], "v9", "en")
    assert one == "1 photo: 1 identified. Model v9."


def test_counted_words_agree_with_their_number_in_each_language(ctx):
    results, failures = batch(ctx, "fr")
    text = summary_text(results[:1] + results[7:8], failures, "v9", "fr")
    assert text.startswith("3 photos") and "1 identifiée" in text and "1 non reconnue" in text
    assert plural_form(0, "fr") == "one" and plural_form(0, "en") == "other"
    assert plural_form(1, "id") == "other"
    for lang in COMPLETE_LANGUAGES:
        for n in (0, 1, 2, 11):
            assert str(n) in tn("app.identify.count.photos", n, lang)


def test_results_show_no_confidence_beside_a_species_they_do_not_name(ctx):
    results, failures = batch(ctx)
    cor = result(ctx, CANNOT_RULE_OUT, name="carving.jpg")
    assert [shown_confidence(r) for r in (results[0], results[-1], cor)] == ["93%", "", ""]
    html = results_html([results[0], results[-1], cor], failures, "en")
    rows = re.findall(r"<tr>(.*?)</tr>", html)[1:]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    assert cells[1][2:4] == ["—", "—"]  # not recognised: no name, no number
    assert "Elephant ivory carving or a look-alike" in cells[2][2] and cells[2][3] == "—"
    assert 'data-label="Model confidence"' in rows[0]  # narrow screens label each value


def test_unreadable_files_are_listed_under_the_table_with_a_short_reason(ctx):
    long_reason = "is not an image format this tool can read (JPEG, PNG, GIF, BMP, TIFF, WebP)"
    html = results_html([], [{"name": "notes.jpg", "reason": long_reason}], "en")
    assert "<table" not in html
    assert re.search(r"<li><strong>notes\.jpg</strong> — not a photo</li>", html)
    assert long_reason not in html


def test_the_csv_uses_the_screens_words_and_rounded_confidence(ctx):
    results, failures = batch(ctx)
    rows = list(csv.reader(io.StringIO(results_csv(results, failures, "en").lstrip("\ufeff"))))
    header, body = rows[0], rows[1:]
    assert header[:6] == [t(f"app.identify.col.{c}") for c in
                          ("file", "result", "name", "confidence", "cites", "protected")]
    assert body[0][1:4] == ["identified", "Elephant ivory carving", "93%"]
    assert body[7][1:4] == ["not recognised", "", ""]
    assert body[-1][:2] == ["shipment_manifest.pdf", t("app.identify.result.failed",
                                                       reason=t("app.identify.reason.not_photo"))]
    assert not any("unknown" == cell for row in body for cell in row[:6])


def _decoder_reason(data: bytes, name: str) -> str:
    from species_data.images import ImageDecodeError, decode_image

    with pytest.raises(ImageDecodeError) as err:
        decode_image(data, name=name)
    return err.value.reason


@pytest.mark.parametrize("data, kind", [
    (b"%PDF-1.4 a shipment manifest", "not_photo"),
    (b"this is a text file named like a photo", "not_photo"),
    (b"<!doctype html><html><body>saved page</body></html>", "not_photo"),
    (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64, "unsupported"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 40, "damaged"),
])
def test_the_decoders_reasons_map_to_a_short_one(data, kind):
    assert kind in REASONS
    assert reason_kind(_decoder_reason(data, "x.jpg")) == kind


def test_a_truncated_jpeg_is_damaged_not_unreadable(photos_root):
    photo = sorted((photos_root / "tiger").glob("*.jpg"))[0]
    assert reason_kind(_decoder_reason(photo.read_bytes()[:2000], "cut.jpg")) == "damaged"


# --- saving twice --------------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def case(id_, minutes_ago, officer="olga", photos=("b" * 64,), shipment="AWB-1", action="detained",
         note="carved tusk", seizure=None) -> Case:
    from serve.records.case_schema import CasePhoto, PhotoReview

    created = NOW - timedelta(minutes=minutes_ago)
    seizure = seizure or Seizure(seizure_date=created.date(), place="Port A", quantity=2.0)
    return Case(id_, created, officer, shipment, note, CaseAction(action), "v9", {}, "ivory_carving",
                "identified", seizure, tuple(CasePhoto(p, PhotoReview.PENDING, None, None, "")
                                             for p in photos), None, None, None)


def test_the_same_save_again_within_the_window_is_the_first_case():
    cases = [case(1, 30), case(2, 3)]
    same = dict(officer="olga", photos=["b" * 64], shipment_ref="AWB-1", action="detained",
                note="carved tusk ", seizure=Seizure(seizure_date=NOW.date(), place="Port A",
                                                      quantity=2.0), now=NOW)
    assert repeat_of(cases, **same).id == 2
    assert repeat_of(cases, **dict(same, note="carved tusk, base cracked")) is None  # a new case
    assert repeat_of(cases, **dict(same, shipment_ref="AWB-2")) is None
    assert repeat_of(cases, **dict(same, action=CaseAction.REFERRED)) is None
    assert repeat_of(cases, **dict(same, officer="oscar")) is None
    assert repeat_of(cases, **dict(same, photos=["c" * 64])) is None
    assert repeat_of(cases, **dict(same, photos=["b" * 64, "c" * 64])) is None  # another photo added
    assert repeat_of(cases, **dict(same, seizure=Seizure(seizure_date=NOW.date(), place="Port A",
                                                         quantity=3.0))) is None  # another count
    later = NOW + REPEAT_WINDOW
    assert repeat_of(cases, **dict(same, now=later)) is None  # another day, another event


def test_a_save_without_a_seizure_date_repeats_a_case_dated_the_day_it_was_logged():
    cases = [case(2, 3)]  # stored with the day it was logged
    assert repeat_of(cases, officer="olga", photos=["b" * 64], shipment_ref="AWB-1",
                     action="detained", note="carved tusk",
                     seizure=Seizure(place="Port A", quantity=2.0), now=NOW).id == 2


def test_save_shows_as_done_for_a_photo_saved_a_moment_ago():
    cases = [case(1, 30), case(2, 3, note="other", photos=("c" * 64, "b" * 64))]
    assert saved_recently(cases, officer="olga", photo_sha256="b" * 64, now=NOW).id == 2
    assert saved_recently(cases, officer="olga", photo_sha256="d" * 64, now=NOW) is None
    assert saved_recently(cases, officer="oscar", photo_sha256="b" * 64, now=NOW) is None
