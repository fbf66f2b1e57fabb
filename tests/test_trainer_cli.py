"""`python -m train add-photos / quick-update / compare / rollback` on the small real world."""
from __future__ import annotations

import os

import pytest

from train.cli import main, parse_args
from tests.trainer_world import NEW_CLASS, build_world, fresh_world


def test_the_new_subcommands_parse_and_the_old_ones_still_do():
    args = parse_args(["add-photos", "--class", "seahorse", "--source", "s", "--licence", "CC0", "a.jpg"])
    assert args.command == "add-photos" and args.class_id == "seahorse" and args.min_side == 96
    assert parse_args(["quick-update", "--from-store"]).from_store
    assert parse_args(["rollback", "v1"]).version == "v1"
    assert parse_args(["publish", "v1"]).command == "publish"


@pytest.mark.model
def test_bulk_ingestion_then_update_compare_and_rollback(tmp_path, tmp_path_factory, capsys):
    world = fresh_world(tmp_path, build_world(tmp_path_factory))
    data, models = str(world.data_dir), str(world.models)
    junk = tmp_path / "readme.jpg"
    junk.write_text("not a photo")
    files = [str(p.path) for p in world.new_photos] + [str(junk)]
    assert main(["add-photos", "--class", NEW_CLASS, "--source", "archive", "--licence", "CC0",
                 "--data-dir", data, *files]) == 0
    out = capsys.readouterr().out
    assert f"{len(world.new_photos)} of {len(files)} photos added to {NEW_CLASS}" in out
    assert "readme.jpg: Not a usable image" in out

    assert main(["quick-update", "--base", f"{models}/current", "--from-store", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert f"{len(world.new_photos)} photos added" in out and "new" in out and (world.models / "v2").is_dir()

    assert main(["compare", "--candidate", f"{models}/v2", "--published", f"{models}/v1", "--data-dir", data]) == 0
    assert NEW_CLASS in capsys.readouterr().out

    assert main(["publish", "--models", models, "v2"]) == 0
    assert main(["rollback", "v1", "--models", models, "--card-dir", str(tmp_path / "cards"),
                 "--reason", "test"]) == 0
    assert os.path.realpath(world.models / "current").endswith("v1")
    assert (tmp_path / "cards" / "v1.md").is_file()
    assert main(["rollback", "v1", "--models", models, "--card-dir", str(tmp_path / "cards")]) == 1
