"""Every kind of awkward input (tests/badinputs.py) through every door a photo enters by:
the decoder and the Identify path, the batch command, and the trainer's upload gate.

Each test runs the whole corpus and reports every case that misbehaves, by kind, so one
run shows all regressions at once. Refused inputs must name the file and say why, and
nothing may be written anywhere (no extracted members, nothing in the corpus folder).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from species_data.images import ImageDecodeError, content_hash, decode_image
from species_data.zipimport import ZipImportError, read_zip_images
from tests.badinputs import Case, build_corpus, probe_failures

REQUIRED_KINDS = {
    "truncated_jpeg", "cmyk_jpeg", "png_16bit", "png_1bit", "png_palette_transparency", "png_la", "gif_animated",
    "webp_animated", *(f"exif_orientation_{o}" for o in range(1, 9)), "one_pixel", "png_bomb", "jpeg_bomb",
    "huge_100mp_jpeg", "zero_bytes", "text_named_jpg", "html_named_jpg", "svg", "heic_like", "zip_traversal",
    "zip_bomb", "zip_many_files", "shell_metachar_name", "unicode_name", "oversize_file", "bmp", "tiff",
    "grayscale_jpeg", "progressive_jpeg", "png_named_gif", "extreme_aspect", "zip_nested", "zip_symlink",
    "zip_encrypted", "zip_absolute",
}


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.lstat().st_size for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, photos_root) -> tuple[Path, list[Case]]:
    folder = tmp_path_factory.mktemp("bad inputs")  # a space in the folder name, too
    cases = build_corpus(folder, photos_root)
    return folder, cases


@pytest.fixture(scope="module")
def predictor(model_bundle):
    from serve.identify.predictor import Predictor

    return Predictor.load(model_bundle)


def _words_missing(case: Case, reason: str) -> list[str]:
    return [w for w in case.words if w.lower() not in reason.lower()]


def _report(problems: list[str]) -> str:
    return f"{len(problems)} case(s) misbehave:\n" + "\n".join(problems)


def test_corpus_covers_the_required_kinds(corpus):
    _, cases = corpus
    kinds = {c.kind for c in cases}
    assert len(kinds) >= 30
    assert not REQUIRED_KINDS - kinds, sorted(REQUIRED_KINDS - kinds)
    assert all(c.words for c in cases if not c.accepted), "every refusal must say which words to expect"


def test_decoder_accepts_or_refuses_each_case_as_declared(corpus):
    folder, cases = corpus
    before = _snapshot(folder)
    problems = []
    for case in cases:
        if case.archive:
            try:
                contents = read_zip_images(case.path)
            except ZipImportError as err:
                if case.accepted:
                    problems.append(f"{case.kind}: refused ({err.reason})")
                elif missing := _words_missing(case, err.reason):
                    problems.append(f"{case.kind}: reason {err.reason!r} lacks {missing}")
                elif err.archive != case.name:
                    problems.append(f"{case.kind}: error names {err.archive!r}, not the archive")
                continue
            got = (len(contents.images), len(contents.skipped))
            if not case.accepted:
                problems.append(f"{case.kind}: accepted with {got} (images, skipped), expected a refusal")
            elif got != (case.images, case.skipped):
                problems.append(f"{case.kind}: {got} (images, skipped), expected {(case.images, case.skipped)}")
            elif not all(s.reason for s in contents.skipped):
                problems.append(f"{case.kind}: a skipped member has no reason")
            continue
        try:
            decoded = decode_image(case.path)
        except ImageDecodeError as err:
            if case.accepted:
                problems.append(f"{case.kind}: refused ({err.reason})")
            elif missing := _words_missing(case, err.reason):
                problems.append(f"{case.kind}: reason {err.reason!r} lacks {missing}")
            elif err.name != case.name or not str(err).startswith(case.name):
                problems.append(f"{case.kind}: error {str(err)!r} does not name the file {case.name!r}")
            continue
        if not case.accepted:
            problems.append(f"{case.kind}: accepted, expected a refusal naming {case.words}")
            continue
        problems += [f"{case.kind}: {p}" for p in probe_failures(case, decoded.image)]
        if decoded.sha256 != content_hash(case.path.read_bytes()):
            problems.append(f"{case.kind}: sha256 is not the hash of the file's bytes")
    assert not problems, _report(problems)
    assert _snapshot(folder) == before, "decoding wrote or changed files"


def test_huge_photo_is_decoded_at_reduced_scale(corpus):
    _, cases = corpus
    (case,) = [c for c in cases if "draft" in c.checks]
    decoded = decode_image(case.path, min_side=256)
    assert decoded.original_size == case.size
    assert 256 <= min(decoded.image.size) <= min(case.size) // 4, "JPEG draft mode was not used"


def test_identify_accepts_or_refuses_each_case_as_declared(corpus, predictor):
    folder, cases = corpus
    before = _snapshot(folder)
    problems = []
    for case in cases:
        try:
            result = predictor.identify(case.path)
        except ImageDecodeError as err:
            if case.accepted and not case.archive:
                problems.append(f"{case.kind}: refused ({err.reason})")
            elif not case.archive and (missing := _words_missing(case, err.reason)):
                problems.append(f"{case.kind}: reason {err.reason!r} lacks {missing}")
            elif err.name != case.name:
                problems.append(f"{case.kind}: error names {err.name!r}, not {case.name!r}")
            continue
        except Exception as err:  # noqa: BLE001 - the point of the test
            problems.append(f"{case.kind}: {type(err).__name__} escaped: {err}")
            continue
        if case.archive or not case.accepted:
            problems.append(f"{case.kind}: identified, expected a refusal")
            continue
        probs = np.array([p for _, p in result.probabilities])
        if result.name != case.name or not np.isfinite(probs).all() or abs(probs.sum() - 1) > 1e-4:
            problems.append(f"{case.kind}: bad result {result.name!r}, probabilities sum {probs.sum()}")
        if result.original_size != case.size:
            problems.append(f"{case.kind}: original_size {result.original_size}, expected {case.size}")
    # the photos inside accepted archives go the same way, as bytes
    for case in cases:
        if case.archive and case.accepted:
            for name, data in read_zip_images(case.path).images:
                try:
                    predictor.identify(data, name=name)
                except Exception as err:  # noqa: BLE001
                    problems.append(f"{case.kind}/{name}: {type(err).__name__}: {err}")
    assert not problems, _report(problems)
    assert _snapshot(folder) == before


def test_batch_command_gives_one_row_per_file_and_errors_on_refused_ones(corpus, model_bundle, tmp_path, capsys):
    from serve.identify.batch import display, main
    from train.decision_rule import DecisionKind

    DECISIONS = {kind.value for kind in DecisionKind}  # cannot_rule_out included: a look-alike answer

    folder, cases = corpus
    before = _snapshot(folder)
    out = tmp_path / "results.csv"
    code = main([str(folder), "--model", str(model_bundle), "--out", str(out), "--quiet", "--batch-size", "7"])
    assert code == 0
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(c.batch_rows for c in cases), [r["path"] for r in rows]
    problems = []
    for case in cases:
        shown = display(case.path)
        mine = [r for r in rows if r["path"] == shown or (case.archive and r["path"].startswith(shown + "/"))]
        errors = [r for r in mine if r["error"]]
        if (len(mine), len(errors)) != (case.batch_rows, case.batch_errors):
            problems.append(f"{case.kind}: {len(mine)} rows, {len(errors)} errors; expected "
                            f"{case.batch_rows} rows, {case.batch_errors} errors")
            continue
        if not case.accepted and (missing := _words_missing(case, errors[0]["error"])):
            problems.append(f"{case.kind}: error {errors[0]['error']!r} lacks {missing}")
        for r in mine:
            if not r["error"] and (r["decision"] not in DECISIONS or not r["sha256"]):
                problems.append(f"{case.kind}: incomplete row {r}")
            if r["error"] and r["decision"]:
                problems.append(f"{case.kind}: error row carries a decision {r}")
    assert not problems, _report(problems)
    assert _snapshot(folder) == before, "the batch command wrote into the input folder"
    assert sorted(os.listdir(tmp_path)) == ["results.csv"], "temporary files left behind"
    assert "not readable" in capsys.readouterr().err


def test_upload_gate_refuses_what_the_decoder_refuses_and_stores_nothing(corpus):
    quality = pytest.importorskip("species_data.quality")
    folder, cases = corpus
    before = _snapshot(folder)
    gate = quality.QualityGate()
    problems = []

    def check(kind: str, name: str, data, accepted: bool, size, words=()) -> None:
        try:
            verdict = gate.check(name, data, "tiger")
        except Exception as err:  # noqa: BLE001
            problems.append(f"{kind}: {type(err).__name__} escaped the gate: {err}")
            return
        if verdict.name != name:
            problems.append(f"{kind}: verdict names {verdict.name!r}, not {name!r}")
        if not accepted:
            reason = str(verdict.params.get("reason", ""))
            if verdict.accepted or verdict.code is not quality.VerdictCode.NOT_AN_IMAGE:
                problems.append(f"{kind}: gate said {verdict.code.value}, expected not_an_image")
            elif missing := [w for w in words if w.lower() not in reason.lower()]:
                problems.append(f"{kind}: gate reason {reason!r} lacks {missing}")
            return
        big_enough = size is None or min(size) >= gate.min_side
        want = quality.VerdictCode.ACCEPTED if big_enough else quality.VerdictCode.TOO_SMALL
        if verdict.code is not want:
            problems.append(f"{kind}: gate said {verdict.code.value}, expected {want.value}")

    for case in cases:
        if case.archive:  # the gate takes photos; a zip is not one
            check(case.kind, case.name, case.path, False, None)
            if case.accepted:
                for name, data in read_zip_images(case.path).images:
                    check(f"{case.kind}/{name}", name, data, True, decode_image(data).original_size)
        else:
            check(case.kind, case.name, case.path, case.accepted, case.size, case.words)
    assert not problems, _report(problems)
    assert len(gate) == 0, "check() must not remember photos"
    assert _snapshot(folder) == before


# -- zip limits, one at a time ------------------------------------------------------------------

def _zip(members):
    from tests.badinputs import make_zip

    return make_zip(members)


def test_zip_limits_are_parameters():
    from tests.badinputs import encode, quadrants
    from species_data.zipimport import iter_zip_images

    png = encode(quadrants(), "PNG")
    three = _zip([(f"{i}.png", png) for i in range(3)])
    assert len(list(iter_zip_images(three))) == 3
    with pytest.raises(ZipImportError, match="has 3 entries; the limit is 2"):
        list(iter_zip_images(three, max_files=2))
    with pytest.raises(ZipImportError, match="possible zip bomb"):
        list(iter_zip_images(three, max_total_bytes=2 * len(png)))
    with pytest.raises(ZipImportError, match="per photo"):
        list(iter_zip_images(three, max_member_bytes=len(png) - 1))


def test_zip_ratio_limit_spares_small_members_but_not_large_ones():
    from species_data.zipimport import RATIO_FLOOR, iter_zip_images

    small = _zip([("flat.jpg", b"\x00" * (RATIO_FLOOR // 2))])  # compresses 1000x, but tiny
    assert [n for n, _ in iter_zip_images(small)] == ["flat.jpg"]
    with pytest.raises(ZipImportError, match="ratio"):
        list(iter_zip_images(_zip([("flat.jpg", b"\x00" * (RATIO_FLOOR * 2))])))


def test_zip_skips_are_reported_in_archive_order_and_refusals_name_member_and_archive():
    from species_data.zipimport import iter_zip_images

    seen = []
    data = _zip([("a.txt", b"t"), ("b.jpg", b"\xff\xd8\xff\xe0"), ("c.zip", b"PK\x03\x04"), ("d/._e.jpg", b"x")])
    names = [n for n, _ in iter_zip_images(data, on_skip=lambda n, r: seen.append(n), name="case 12.zip")]
    assert names == ["b.jpg"] and seen == ["a.txt", "c.zip", "d/._e.jpg"]
    with pytest.raises(ZipImportError) as err:
        list(iter_zip_images(_zip([("ok/../../x.jpg", b"x")]), name="case 12.zip"))
    assert err.value.archive == "case 12.zip" and err.value.member == "ok/../../x.jpg"
    assert str(err.value).startswith("case 12.zip: member 'ok/../../x.jpg'")
