"""CITES listings from a Species+ CSV (species_data/checklist.py): reading a hand-made file in
that shape, the diff against the catalogue, applying it through the atomic save and edit
history, the command line, and the Trainer tab's handlers."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from species_data import Appendix, PACKAGED_DIR, load_catalogue, read_history
from species_data.checklist import ChecklistError, Status, apply_diff, compare, read_checklist

# The Species+ download's columns, reordered, with extra ones, behind a UTF-8 byte-order mark.
HEADER = ("Id,Kingdom,Class,Order,Family,Genus,Species,Full note,Scientific Name,Author,Rank,Listing,"
          "Party,# Full note,All_DistributionISOCodes")
ROWS = [
    # a split-listed species: the four Appendix II populations
    '4521,Animalia,Mammalia,Proboscidea,Elephantidae,Loxodonta,africana,"Populations of Botswana, Namibia, '
    'South Africa and Zimbabwe (listed in Appendix II); all other populations are included in Appendix I.",'
    'Loxodonta africana,"(Blumenbach, 1797)",SPECIES,I/II,,2,"BW,NA,ZA,ZW,KE"',
    # a genus-level listing and a species of that genus in Appendix I
    '3001,Plantae,Magnoliopsida,Fabales,Leguminosae,Dalbergia,,#15,Dalbergia spp.,,GENUS,II,,15,',
    '3002,Plantae,Magnoliopsida,Fabales,Leguminosae,Dalbergia,nigra,,Dalbergia nigra,"(Vell.) Benth.",SPECIES,I,,,BR',
    # a genus row covering a species-level entry: the genus's Appendix differs from the entry's
    '3003,Animalia,Mammalia,Cetartiodactyla,Delphinidae,Orcinus,,,Orcinus,,GENUS,I,,,',
    # Appendix III with its Party
    '5001,Animalia,Mammalia,Carnivora,Odobenidae,Odobenus,rosmarus,,Odobenus rosmarus,"(Linnaeus, 1758)",'
    'SPECIES,III,Canada,,CA',
    # names not in the catalogue
    '6001,Animalia,Amphibia,Caudata,Ambystomatidae,Ambystoma,mexicanum,,Ambystoma mexicanum,,SPECIES,II,,,MX',
    # a row without a listing (deleted taxon) is skipped
    '6002,Animalia,Aves,Passeriformes,Sturnidae,Gracula,ptilogenys,,Gracula ptilogenys,,SPECIES,,,,',
]


def write_csv(tmp_path: Path, rows=ROWS, header=HEADER, name="speciesplus.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(("\ufeff" + header + "\r\n" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    return path


@pytest.fixture(scope="module")
def cat():
    return load_catalogue()


def test_reads_the_species_plus_shape(tmp_path):
    rows = {r.name: r for r in read_checklist(write_csv(tmp_path))}
    assert set(rows) == {"Loxodonta africana", "Dalbergia", "Dalbergia nigra", "Orcinus", "Odobenus rosmarus",
                         "Ambystoma mexicanum"}  # "spp." dropped, empty listing skipped
    assert rows["Loxodonta africana"].appendices == {Appendix.I, Appendix.II}
    assert rows["Loxodonta africana"].listing == "I/II" and "Botswana" in rows["Loxodonta africana"].note
    assert rows["Odobenus rosmarus"].party == "Canada" and rows["Dalbergia"].rank == "GENUS"
    assert "Leguminosae" in rows["Dalbergia nigra"].higher


@pytest.mark.parametrize("content, match", [
    (HEADER.replace("Scientific Name", "Taxon name") + "\r\nx", "no 'Scientific Name' column"),
    (HEADER.replace("Listing", "Status") + "\r\nx", "no 'Listing' column"),
    (HEADER + "\r\n" + ROWS[0].replace(",I/II,", ",IV,"), "line 2: Listing 'IV'"),
    ("", "is empty"),
    (HEADER + "\r\n", "no listing rows"),
])
def test_bad_files_are_refused_with_what_to_do(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ChecklistError, match=match):
        read_checklist(path)
    (tmp_path / "latin1.csv").write_bytes("Scientific Name,Listing\nCaiman crocodilus,II\nÉ".encode("latin-1"))
    with pytest.raises(ChecklistError, match="not UTF-8"):
        read_checklist(tmp_path / "latin1.csv")


def test_diff_shows_entry_old_new_and_note(tmp_path, cat):
    diff = compare(cat, read_checklist(write_csv(tmp_path)))
    by_id = {c.entry_id: c for c in diff.changes}
    # split-listed species: kept, flagged for review, with the populations from the Full note
    for eid in ("elephant", "ivory_carving", "ivory_raw_tusk"):
        c = by_id[eid]
        assert c.status is Status.SPLIT and c.old is c.new is Appendix.I and c.listing == "I/II"
        assert "Botswana" in c.note
    # genus-level listing with a species exception: a split for the genus entry
    rose = by_id["rosewood_timber"]
    assert rose.status is Status.SPLIT and set(rose.matched) == {"Dalbergia", "Dalbergia nigra"}
    # a species entry takes its genus's listing: a change
    orca = by_id["orca_tooth"]
    assert (orca.status, orca.old, orca.new) == (Status.CHANGED, Appendix.II, Appendix.I)
    assert "Appendix II -> I" in orca.note
    assert by_id["walrus_ivory_carving"].status is Status.UNCHANGED and "Canada" in by_id["walrus_ivory_carving"].note
    assert by_id["tiger"].status is Status.NOT_IN_FILE and not by_id["tiger"].applies
    assert "domestic_dog" not in by_id  # unlisted and not in the file: nothing to say
    assert diff.unmatched == ("Ambystoma mexicanum",)
    assert diff.count(Status.CHANGED) == 1 and diff.rows == 6


def test_apply_goes_through_the_atomic_save_and_the_edit_history(tmp_path, cat):
    overlay = tmp_path / "overlay"
    diff = compare(cat, read_checklist(write_csv(tmp_path)))
    written = apply_diff(diff, cat, overlay, "tina", source="speciesplus.csv", today=dt.date(2026, 4, 2))
    assert sorted(p.stem for p in written) == sorted(c.entry_id for c in diff.to_apply)
    after = load_catalogue(PACKAGED_DIR, overlay)
    orca = after["orca_tooth"]
    assert orca.appendix is Appendix.I and "Appendix II -> I" in orca.cites.note
    # the translations of the old note no longer say what English says: dropped, shown in English
    assert set(orca.cites.notes) == {"en"} and orca.cites.note_in("fr").fell_back
    walrus = after["walrus_ivory_carving"]  # unchanged Appendix: the translated note stays
    assert walrus.cites.notes == cat["walrus_ivory_carving"].cites.notes
    assert orca.cites.checked_against.startswith("2026-04 (Species+ checklist import: speciesplus.csv")
    assert after["ivory_carving"].appendix is Appendix.I  # split listings are not changed
    assert after["ivory_carving"].cites.checked_against.startswith("2026-04")
    assert after["tiger"].cites == cat["tiger"].cites  # not in the file: untouched
    assert not (overlay / "tiger.yaml").exists()
    history = read_history(overlay)
    assert {h["id"] for h in history} == {p.stem for p in written}
    assert all(h["author"] == "tina" and h["reason"] == "Species+ checklist import: speciesplus.csv"
               and h["action"] == "updated" for h in history)
    assert not list(overlay.glob(".*.tmp"))  # no temp files left behind


def test_a_change_outside_the_entrys_population_rows_adds_a_row(tmp_path, cat):
    lion = "7001,Animalia,Mammalia,Carnivora,Felidae,Panthera,leo,,Panthera leo,,SPECIES,III,Kenya,,KE"
    diff = compare(cat, read_checklist(write_csv(tmp_path, [lion])))
    change = next(c for c in diff.changes if c.entry_id == "lion")
    assert (change.status, change.old, change.new) == (Status.CHANGED, Appendix.II, Appendix.III)
    apply_diff(diff, cat, tmp_path / "o", "tina", source="x.csv")
    rows_after = load_catalogue(PACKAGED_DIR, tmp_path / "o")["lion"].cites.listings
    assert rows_after[:-1] == cat["lion"].cites.listings  # the curated rows are kept
    assert rows_after[-1].appendix is Appendix.III and "Species+ checklist import" in rows_after[-1].covers
    # a member's listing is not its group's: "Felidae spp." keeps Appendix II
    small_cats = next(c for c in diff.changes if c.entry_id == "small_wild_cat")
    assert small_cats.status is Status.SPLIT and small_cats.new is Appendix.II


def test_command_line_shows_the_diff_and_applies_only_when_confirmed(tmp_path, capsys):
    from species_data.__main__ import main

    csv_path, into = write_csv(tmp_path), tmp_path / "into"
    assert main(["import-checklist", str(csv_path), "--into", str(into)]) == 0
    out = capsys.readouterr().out
    assert "orca_tooth" in out and "changed" in out and "Ambystoma mexicanum" in out
    assert "Not applied" in out and not into.exists()  # no terminal to ask on, no --yes
    assert main(["import-checklist", str(csv_path), "--into", str(into), "--yes", "--author", "cli-test",
                 "--date", "2026-04-02"]) == 0
    assert "Updated" in capsys.readouterr().out
    assert load_catalogue(PACKAGED_DIR, into)["orca_tooth"].appendix is Appendix.I
    assert {h["author"] for h in read_history(into)} == {"cli-test"}
    bad = tmp_path / "bad.csv"
    bad.write_text("name,appendix\n", encoding="utf-8")
    assert main(["import-checklist", str(bad), "--into", str(into)]) == 2
    assert "Scientific Name" in capsys.readouterr().err


def test_trainer_tab_previews_then_applies_and_trainees_are_refused(tmp_path, photos_root):
    from serve.context import AppConfig, AppContext
    from serve.i18n import t
    from serve.ui.trainer_checklist import ChecklistHandlers

    ctx = AppContext(AppConfig(data_dir=tmp_path / "data", photo_roots=(photos_root,), bcrypt_rounds=4))
    ctx.store.add_user("trev", "trainer", "pw-trev-long-enough")
    ctx.store.add_user("tina", "trainee", "pw-tina-long-enough")
    h = ChecklistHandlers(ctx)
    trev, tina = SimpleNamespace(username="trev", headers={}), SimpleNamespace(username="tina", headers={})
    upload = SimpleNamespace(path=str(write_csv(tmp_path)))
    try:
        summary, table = h.preview(upload, trev)
        assert "6 rows read" in summary and "Ambystoma mexicanum" in summary
        rows = table["value"]["data"]
        orca = next(r for r in rows if "(orca_tooth)" in r[0])
        assert orca[1:4] == ["II", "I", t("checklist.status.changed")]
        assert not ctx.config.catalogue_overlay.exists()  # previewing writes nothing
        with pytest.raises(gr.Error):
            h.apply(upload, tina)
        with pytest.raises(gr.Error, match=re.escape(t("checklist.error.no_file"))):
            h.preview(None, trev)
        done = h.apply(upload, trev)
        assert "speciesplus.csv" in done
        assert ctx.catalogue()["orca_tooth"].appendix is Appendix.I  # reloaded
        assert ctx.store.audit_log(who="trev", action="trainer_checklist_import", limit=1)
        assert json.dumps(read_history(ctx.config.catalogue_overlay))
    finally:
        ctx.store.close()
