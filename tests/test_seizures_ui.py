"""The seizure handlers of History and the Analyst tab, called as Gradio calls them: who may
open, correct and confirm a case, and what the analyst gets (figures and downloads)."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import pytest
from matplotlib.figure import Figure

from serve.context import AppConfig, AppContext
from serve.records.seizure import Seizure
from serve.ui.analyst import AnalystHandlers
from serve.ui.case_edit import CaseEditHandlers
from serve.ui.seizure_form import FIELDS, inputs_from_seizure

PASSWORD = "a-long-test-password"


@dataclass
class Req:
    username: str | None
    headers: dict = field(default_factory=dict)


@pytest.fixture
def ctx(tmp_path):
    ctx = AppContext(AppConfig(data_dir=tmp_path / "data", bcrypt_rounds=4))
    for name, role in (("olga", "officer"), ("oscar", "officer"), ("tina", "trainer"),
                       ("ida", "analyst"), ("tom", "trainee")):
        ctx.store.add_user(name, role, PASSWORD)
    catalogue = ctx.catalogue()
    for officer, route, day in (("olga", ("NG", "VN"), "2025-01-05"),
                                ("olga", ("NG", "VN"), "2025-02-07"),
                                ("oscar", ("KE", "CN"), "2025-02-09")):
        ctx.store.add_case(officer=officer, action="detained", label="fish_maw",
                           decision="identified", prediction={}, model_version="v1",
                           seizure=Seizure.parse({
                               "seizure_date": day, "country": "KE", "commodity": "pangolin_scales",
                               "origin_country": route[0], "destination_country": route[1],
                               "concealment": "container"}).with_commodity(catalogue))
    return ctx


def test_officers_open_and_correct_only_their_own_cases(ctx):
    edit = CaseEditHandlers(ctx)
    mine, theirs = [c.id for c in sorted(ctx.store.list_cases(), key=lambda c: c.id)][1:]
    summary, *values = edit.case_open(mine, request=Req("olga"))
    assert f"#{mine}" in summary and len(values) == len(FIELDS)
    values[FIELDS.index("place")] = "Mombasa port"
    assert "updated" in edit.case_update(mine, *values, request=Req("olga"))
    assert ctx.store.get_case(mine).seizure.place == "Mombasa port"
    for who in ("olga", "ida"):  # another officer's case; an analyst only reads
        with pytest.raises(gr.Error):
            edit.case_update(theirs, *values, request=Req(who))
    with pytest.raises(gr.Error, match="no case"):
        edit.case_open(theirs, request=Req("olga"))  # not even visible to another officer
    assert edit.case_open(theirs, request=Req("ida"))[0].startswith(f"**Case #{theirs}**")
    values[FIELDS.index("country")] = "Kenya"
    with pytest.raises(gr.Error, match="'Kenya' is not an ISO"):
        edit.case_update(mine, *values, request=Req("olga"))
    with pytest.raises(gr.Error, match="not a case number"):
        edit.case_open("1 OR 1=1", request=Req("olga"))


def test_only_trainers_and_admins_confirm(ctx):
    edit = CaseEditHandlers(ctx)
    case = ctx.store.list_cases()[0]
    for who in ("olga", "ida", "tom"):
        with pytest.raises(gr.Error):
            edit.case_confirm(case.id, "pangolin_scales", "dna", "2025-03-01", "", request=Req(who))
    with pytest.raises(gr.Error, match="'unicorn' is not a catalogue entry"):
        edit.case_confirm(case.id, "unicorn", "dna", "2025-03-01", "", request=Req("tina"))
    text = edit.case_confirm(case.id, "pangolin_scales", "spectroscopy", "2025-03-01", "R-9",
                             request=Req("tina"))
    assert "R-9" in text and ctx.store.get_case(case.id).confirmation.confirmed_by == "tina"
    assert len(ctx.store.review_queue()) == 0  # no photos in these cases


def test_the_analyst_gets_four_figures_and_downloads(ctx):
    analyst = AnalystHandlers(ctx)
    count, *figures, files = analyst.analyse("2025-02-01", "2025-02-28", "ke", request=Req("ida"))
    assert count == "2 seizure record(s)."
    assert len(figures) == 4 and all(isinstance(f, Figure) for f in figures)
    names = sorted(Path(f).name.split("-2")[0] + Path(f).suffix for f in files)
    assert names == sorted(["seizures-by_month.png", "seizures-by_month.csv",
                            "seizures-routes.png", "seizures-routes.csv",
                            "seizures-concealment.png", "seizures-concealment.csv",
                            "seizures-outcomes.png", "seizures-outcomes.csv",
                            "seizures.csv", "seizures.json"])
    routes = next(f for f in files if "seizures-routes" in f and f.endswith(".csv"))
    assert list(csv.reader(open(routes))) == [["origin", "destination", "seizures"],
                                              ["KE", "CN", "1"], ["NG", "VN", "1"]]
    png = next(f for f in files if f.endswith(".png"))
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for who in ("olga", "tom"):
        with pytest.raises(gr.Error):
            analyst.analyse("", "", "", request=Req(who))
    with pytest.raises(gr.Error, match="after to date"):
        analyst.analyse("2025-03-01", "2025-01-01", "", request=Req("ida"))


def test_form_values_round_trip(ctx):
    case = ctx.store.list_cases()[0]
    values = inputs_from_seizure(case.seizure)
    from serve.ui.seizure_form import seizure_from_inputs

    assert seizure_from_inputs(values, ctx.catalogue()) == case.seizure
