"""The batch command (python -m serve.predict) and the batch path it relies on."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from serve.identify.batch import Identifier, Photo, Row, display, items, main, to_csv, walk
from species_data import load_catalogue
from tests.badinputs import make_zip

ROOT = Path(__file__).resolve().parents[1]


def first_photos(photos_root: Path, n: int) -> list[Path]:
    """The first photo of each of the first `n` classes: different classes, fixed choice."""
    classes = sorted(p for p in photos_root.iterdir() if p.is_dir())[:n]
    return [sorted(c.glob("*.jpg"))[0] for c in classes]


@pytest.fixture(scope="module")
def predictor(model_bundle):
    from serve.identify.predictor import Predictor

    return Predictor.load(model_bundle)


def test_batch_results_equal_single_photo_results(predictor, photos_root):
    from serve.identify.predictor import Identification

    paths = first_photos(photos_root, 12)
    assert len(paths) == 12
    batch = predictor.identify_many([(p.name, p) for p in paths], batch_size=5)  # chunks of 5, 5, 2
    assert len(batch) == len(paths)
    for path, many in zip(paths, batch):
        one = predictor.identify(path)
        assert isinstance(many, Identification), many
        assert many.name == one.name == path.name and many.sha256 == one.sha256
        assert (many.decision.kind, many.decision.label, many.decision.group) == \
               (one.decision.kind, one.decision.label, one.decision.group), path
        p_many, p_one = dict(many.probabilities), dict(one.probabilities)
        assert p_many.keys() == p_one.keys()
        assert max(abs(p_many[k] - p_one[k]) for k in p_one) < 1e-5, path
        assert abs(many.ood_score - one.ood_score) < 1e-4
    assert len({r.probabilities[0][0] for r in batch}) > 3, "photos of different classes look alike to the model"


def test_json_output_rows_in_order_with_catalogue_appendix(model_bundle, photos_root, tmp_path):
    photos = first_photos(photos_root, 3)
    folder = tmp_path / "seizure"
    (folder / "box 2").mkdir(parents=True)
    for i, p in enumerate(photos[:2]):
        (folder / f"{i}_{p.name}").write_bytes(p.read_bytes())
    (folder / "box 2" / "notes.txt").write_text("container MSKU1234567")
    (folder / ".hidden.jpg").write_bytes(photos[0].read_bytes())  # ignored: hidden
    (folder / "phone.zip").write_bytes(make_zip([("DCIM/a.jpg", photos[2].read_bytes()), ("x.txt", b"x")]))
    out = tmp_path / "out" / "results.json"
    code = main([str(folder), str(tmp_path / "missing.jpg"), "--model", str(model_bundle),
                 "--out", str(out), "--quiet"])
    assert code == 0
    rows = json.loads(out.read_text(encoding="utf-8"))
    f = display(folder)
    assert [r["path"] for r in rows] == [  # a folder's files first, then its subfolders
        f"{f}/0_{photos[0].name}", f"{f}/1_{photos[1].name}", f"{f}/phone.zip/DCIM/a.jpg",
        f"{f}/phone.zip/x.txt", f"{f}/box 2/notes.txt", display(tmp_path / "missing.jpg")]
    assert [bool(r["error"]) for r in rows] == [False, False, False, True, True, True]
    assert "skipped" in rows[3]["error"] and "not an image" in rows[4]["error"]
    assert "does not exist" in rows[5]["error"]
    catalogue = load_catalogue()
    for r in rows[:3]:
        assert r["decision"] in ("identified", "group", "cannot_rule_out", "unknown")
        top = r["top5"]
        assert len(top) == 5 and all(a[1] >= b[1] for a, b in zip(top, top[1:]))
        assert 0 < r["confidence"] <= 1 and len(r["sha256"]) == 64
        if r["decision"] == "identified":
            assert r["label"] == top[0][0]
            assert r["cites_appendix"] == catalogue[r["label"]].cites.appendix.value
        elif r["decision"] == "unknown":
            assert r["label"] == "" and r["cites_appendix"] == ""
        elif r["decision"] == "cannot_rule_out":  # a harmless look-alike is never named: the suspect's appendix
            assert r["label"] == "" and r["cites_appendix"] in ("I", "II", "III")


def test_nothing_readable_exits_1_with_an_error_row(model_bundle, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jpg").write_text("not a photo")
    out = tmp_path / "r.csv"
    assert main([str(tmp_path / "in"), "--model", str(model_bundle), "--out", str(out), "--quiet"]) == 1
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and rows[0]["error"] and not rows[0]["decision"]
    assert "nothing could be read" in capsys.readouterr().err


def test_stdout_output_and_progress_on_stderr(model_bundle, photos_root, capsys):
    photo = first_photos(photos_root, 1)[0]
    assert main([str(photo), "--model", str(model_bundle), "--out", "-", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert len(rows) == 1 and rows[0]["path"] == display(photo) and not rows[0]["error"]
    assert "1 files:" in captured.err


def test_missing_model_or_bad_option_exits_2(tmp_path, capsys):
    assert main([str(tmp_path), "--model", str(tmp_path / "nope"), "--quiet"]) == 2
    assert "model bundle" in capsys.readouterr().err
    assert main([str(tmp_path), "--batch-size", "0"]) == 2
    assert main(["--no-such-option"]) == 2


def test_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "serve.predict", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--batch-size" in done.stdout


def test_csv_cells_never_start_a_formula_and_survive_a_round_trip():
    rows = [Row("=HYPERLINK(\"http://x\")"), Row("+1"), Row("-2"), Row("@SUM(A1)"), Row("ok, \"quoted\"\nline"),
            Row("p.jpg", "tiger", 0.9, "identified", "big_cats", "I", (("tiger", 0.9), ("lion", 0.1)))]
    text = to_csv(rows)
    back = list(csv.DictReader(io.StringIO(text)))
    assert [r["path"] for r in back] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)",
                                         "ok, \"quoted\"\nline", "p.jpg"]
    assert json.loads(back[-1]["top5"]) == [["tiger", 0.9], ["lion", 0.1]]


def test_display_survives_undecodable_bytes_and_control_characters():
    assert display(Path(b"caf\xe9\n.jpg".decode("utf-8", "surrogateescape"))) == "caf\ufffd?.jpg"


def test_walk_is_sorted_and_skips_hidden_and_macos_metadata(tmp_path):
    for rel in ["b.jpg", "a/c.jpg", "a/.d.jpg", ".git/e.jpg", "__MACOSX/f.jpg", "Thumbs.db", "a.jpg"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in walk([tmp_path])] == ["a.jpg", "b.jpg", "a/c.jpg"]


# -- Identifier with a stand-in predictor: the row mapping, independent of any model -----------

class FakePredictor:
    """identify_many like the real one; 'boom' in a name makes the whole batch raise."""

    labels = ["tiger", "lion", "domestic_cat", "elephant"]
    bundle = SimpleNamespace(meta=SimpleNamespace(groups={"tiger": "big_cats", "lion": "big_cats",
                                                          "domestic_cat": "domestic_animals",
                                                          "elephant": "elephants"}))

    def __init__(self):
        self.calls = []

    def identify_many(self, pairs, batch_size=16, progress=None):
        from serve.identify.decisions import Decision, DecisionKind
        from serve.identify.predictor import Failure, Identification

        pairs = list(pairs)
        self.calls.append(len(pairs))
        if len(pairs) > 1 and any("boom" in n for n, _ in pairs):
            raise RuntimeError("boom")
        out = []
        for name, _ in pairs:
            if "bad" in name or "boom" in name:
                out.append(Failure(name, "image file is truncated or damaged"))
                continue
            kind = {"t": DecisionKind.IDENTIFIED, "g": DecisionKind.GROUP, "u": DecisionKind.UNKNOWN}[name[0]]
            top = (("lion", 0.6), ("tiger", 0.3), ("elephant", 0.1))
            decision = Decision(kind, "lion" if kind is DecisionKind.IDENTIFIED else None,
                                None if kind is DecisionKind.UNKNOWN else "big_cats", 0.9, top, 0.1)
            out.append(Identification(name, "ab" * 32, decision, top, 0.1, "vtest", (10, 10)))
        return out


def test_identifier_rows_appendix_for_species_and_group():
    fake = FakePredictor()
    ident = Identifier(fake, load_catalogue())
    rows = list(ident.run([Photo("t.jpg", b""), Photo("g.jpg", b""), Photo("u.jpg", b""),
                           Row("z.zip", error="archive refused: x"), Photo("bad.jpg", b"")], batch_size=2))
    assert [r.path for r in rows] == ["t.jpg", "g.jpg", "u.jpg", "z.zip", "bad.jpg"]
    t, g, u, z, bad = rows
    assert (t.decision, t.label, t.group, t.cites_appendix) == ("identified", "lion", "big_cats", "II")
    assert (g.decision, g.label, g.cites_appendix) == ("group", "", "I")  # tiger (I) is the strictest big cat
    assert (u.decision, u.label, u.group, u.cites_appendix) == ("unknown", "", "", "")
    assert z.error and bad.error == "image file is truncated or damaged" and not bad.decision
    assert fake.calls == [2, 2]  # two photos a call; error rows never go to the model


def test_one_failing_batch_is_retried_photo_by_photo():
    fake = FakePredictor()
    rows = list(Identifier(fake, load_catalogue()).run(
        [Photo("t1.jpg", b""), Photo("boom.jpg", b""), Photo("t2.jpg", b"")], batch_size=3))
    assert [bool(r.error) for r in rows] == [False, True, False]
    assert fake.calls == [3, 1, 1, 1]


def test_items_expand_archives_in_memory(tmp_path):
    z = tmp_path / "in.zip"
    z.write_bytes(make_zip([("a.jpg", b"\xff\xd8\xff" + b"x" * 10), ("../evil.jpg", b"x")]))
    (tmp_path / "zip_without_extension").write_bytes(make_zip([("b.png", b"\x89PNG\r\n\x1a\nxx")]))
    got = list(items(walk([tmp_path])))
    assert [(type(i).__name__, i.path) for i in got] == [
        ("Row", display(z)), ("Photo", f"{display(tmp_path)}/zip_without_extension/b.png")]
    assert "unsafe path" in got[0].error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zip", "zip_without_extension"]


def test_probabilities_in_rows_are_rounded_but_ordered():
    fake = FakePredictor()
    (row,) = Identifier(fake, load_catalogue()).run([Photo("t.jpg", b"")])
    probs = [p for _, p in row.top5]
    assert probs == sorted(probs, reverse=True) and np.isclose(sum(probs), 1.0)


def test_an_unreadable_folder_becomes_an_error_row(tmp_path, monkeypatch):
    import os

    (tmp_path / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    (row,) = walk([tmp_path])
    assert row.path == display(tmp_path / "locked") and "Permission denied" in row.error
