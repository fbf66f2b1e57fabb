"""The trainer's command lines on the small real world: `python -m serve trainer add-photos /
quick-update / rollback` (the app's records) and `python -m train quick-update / compare /
publish` (model work only)."""
from __future__ import annotations

import os

import pytest

from serve.trainer_cli import create_parser, main as serve_trainer
from train.cli import main, parse_args
from tests.trainer_world import NEW_CLASS, build_world, fresh_world


def test_the_subcommands_parse():
    args = create_parser().parse_args(["add-photos", "--class", "seahorse", "--source", "s", "--licence", "CC0",
                                       "a.jpg"])
    assert args.command == "add-photos" and args.class_id == "seahorse" and args.min_side == 96
    assert create_parser().parse_args(["rollback", "v1"]).version == "v1"
    assert parse_args(["quick-update", "--add", "x"]).add
    assert parse_args(["publish", "v1", "--card-dir", "cards"]).card_dir.name == "cards"
    with pytest.raises(SystemExit):  # these read the records database: they are serve's
        parse_args(["add-photos", "--class", "seahorse", "--source", "s", "--licence", "CC0", "a.jpg"])


@pytest.mark.model
def test_bulk_ingestion_then_update_compare_and_rollback(tmp_path, tmp_path_factory, capsys):
    world = fresh_world(tmp_path, build_world(tmp_path_factory))
    data, models = str(world.data_dir), str(world.models)
    junk = tmp_path / "readme.jpg"
    junk.write_text("not a photo")
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / world.new_photos[0].path.name).write_bytes(world.new_photos[0].path.read_bytes())  # a folder
    files = [str(p.path) for p in world.new_photos[1:]] + [str(junk), str(folder)]
    assert serve_trainer(["add-photos", "--class", NEW_CLASS, "--source", "archive", "--licence", "CC0",
                          "--data-dir", data, *files]) == 0
    out = capsys.readouterr().out
    assert f"{len(world.new_photos)} of {len(world.new_photos) + 1} photos added to {NEW_CLASS}" in out
    assert "readme.jpg: Not a usable image" in out

    assert serve_trainer(["quick-update", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert f"{len(world.new_photos)} photos added" in out and "new" in out and (world.models / "v2").is_dir()
    assert (world.models / "v2" / "card.md").is_file()  # a bundle carries its own card

    assert main(["compare", "--candidate", f"{models}/v2", "--published", f"{models}/v1", "--data-dir", data]) == 0
    assert NEW_CLASS in capsys.readouterr().out

    assert main(["publish", "--models", models, "v2", "--card-dir", str(tmp_path / "cards")]) == 0
    assert (tmp_path / "cards" / "v2.md").is_file()
    assert serve_trainer(["rollback", "v1", "--data-dir", data, "--reason", "test"]) == 0
    assert os.path.realpath(world.models / "current").endswith("v1")
    assert serve_trainer(["rollback", "v1", "--data-dir", data]) == 1

    from serve.records.store import Store

    log = Store.open(f"sqlite:///{world.data_dir / 'records.db'}").audit_log(who="cli")
    assert {"trainer_upload", "trainer_quick_update", "trainer_rollback"} <= {e.action for e in log}
