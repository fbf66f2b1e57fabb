"""Export files (serve.exports): owner-only, unguessable, short-lived."""
from __future__ import annotations

from pathlib import Path

import pytest

from serve.exports import Exports


def test_an_export_is_its_owners_for_a_while_then_gone(tmp_path):
    now = [1000.0]
    cache = tmp_path / "gradio"
    exports = Exports(keep_s=60, folder=tmp_path / "out", gradio_cache=cache, clock=lambda: now[0])
    (tmp_path / "out").mkdir()
    path = Path(exports.write("olga", "cases", "csv", "id,note\n1,x\n"))
    assert path.read_text() == "id,note\n1,x\n" and path.stat().st_mode & 0o777 == 0o600
    assert exports.is_export_name(path.name) and len(path.stem.rsplit("-", 1)[1]) == 32
    assert exports.may_read("olga", path.name)
    assert not exports.may_read("oscar", path.name) and not exports.may_read(None, path.name)
    copy = cache / "abc123" / path.name  # where Gradio keeps its copy
    copy.parent.mkdir(parents=True)
    copy.write_text("x")
    now[0] += 61
    assert not exports.may_read("olga", path.name)
    exports.sweep()
    assert not path.exists() and not copy.exists()


def test_names_are_checked_and_an_owner_is_required(tmp_path):
    exports = Exports(folder=tmp_path)
    with pytest.raises(ValueError, match="owner"):
        exports.write("", "cases", "csv", "")
    with pytest.raises(ValueError, match="stem"):
        exports.write("olga", "../cases", "csv", "")
    assert not exports.is_export_name("cases.csv") and not exports.is_export_name("image.webp")
