"""`python -m serve seizures export`: the file analysts get, its filters, and refusals
that name the bad value (run in-process through `serve.__main__.main`, as the shell would)."""
from __future__ import annotations

import csv
import json

import pytest

from serve.__main__ import main
from serve.records.export import COLUMNS
from serve.records.seizure import Seizure
from serve.records.store import Store


@pytest.fixture
def data_folder(tmp_path):
    data = tmp_path / "data"
    with Store.open(f"sqlite:///{data / 'records.db'}", bcrypt_rounds=4) as store:
        store.add_user("ana", "officer", "correct horse battery")
        store.add_user("bo", "officer", "correct horse battery")
        for officer, country, day in (("ana", "KE", "2025-02-10"), ("ana", "VN", "2025-03-01"),
                                      ("bo", "KE", "2025-03-05")):
            store.add_case(officer=officer, action="detained", label="pangolin_scales",
                           decision="identified", prediction={}, model_version="v1",
                           shipment_ref=f"{officer}-{country}-{day}",
                           seizure=Seizure.parse({"country": country, "seizure_date": day}))
    return data


def test_export_csv_with_date_and_country_filters(data_folder, tmp_path, capsys):
    out = tmp_path / "march-ke.csv"
    code = main(["seizures", "export", "--format", "csv", "--out", str(out), "--data-dir",
                 str(data_folder), "--from", "2025-03-01", "--to", "2025-03-31", "--country", "ke"])
    assert code == 0 and "wrote 1 case(s)" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open(newline="")))
    assert [r["shipment_ref"] for r in rows] == ["bo-KE-2025-03-05"] and list(rows[0]) == list(COLUMNS)
    with Store.open(f"sqlite:///{data_folder / 'records.db'}") as store:
        assert store.audit_log(action="seizures.export")[0].detail["cases"] == 1


def test_export_json_of_one_officer(data_folder, tmp_path):
    out = tmp_path / "ana.json"
    assert main(["seizures", "export", "--format", "json", "--out", str(out), "--data-dir",
                 str(data_folder), "--officer", "ana"]) == 0
    assert sorted(d["country"] for d in json.loads(out.read_text())) == ["KE", "VN"]


@pytest.mark.parametrize("extra, message", [
    (["--country", "Kenya"], "--country 'Kenya' is not an ISO 3166-1 alpha-2 .*'KE'"),
    (["--from", "2025-04-01", "--to", "2025-03-01"], "after --to"),
    (["--from", "1/4/2025"], "--from '1/4/2025' is not a date"),
])
def test_bad_filters_are_refused_by_name(data_folder, tmp_path, capsys, extra, message):
    import re

    out = tmp_path / "x.csv"
    assert main(["seizures", "export", "--format", "csv", "--out", str(out), "--data-dir",
                 str(data_folder), *extra]) == 1
    assert re.search(message, capsys.readouterr().err) and not out.exists()


def test_missing_database_and_bad_format(tmp_path, capsys):
    assert main(["seizures", "export", "--format", "csv", "--out", str(tmp_path / "x.csv"),
                 "--data-dir", str(tmp_path / "nowhere")]) == 1
    assert "no records database" in capsys.readouterr().err
    assert main(["seizures", "export", "--format", "xlsx", "--out", "x"]) == 2
