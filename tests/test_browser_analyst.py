"""The analyst's page in a real browser (Debian's Chromium through Playwright), at phone and
laptop sizes (issue 19): an analyst sees History and Analyst but never Identify; Show
draws the four figures over the filtered seizure records, the count says how many, the
downloads hold each figure with its numbers and the records themselves (a record CSV
with the seizures' shipments); a filter applies; a bad date is refused in words that name
it and the figures stay as they were; the page passes the accessibility audit.
"""
from __future__ import annotations

import re

import pytest

from serve.i18n import t
from serve.records.seizure import Seizure
from tests.browser_helpers import (CHROMIUM, PHONE, VIEWPORT, axe_violations, browser,  # noqa: F401
                                   login, new_page, password, running_app, small_targets,
                                   visible_tabs, wait_quiet)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")]

USERS = {"ana": "analyst", "omar": "officer"}
RECORDS_CSV = re.compile(r"^seizures-\d{8}-\d{6}-[0-9a-f]{32}\.csv$")  # serve.exports names
SEIZURES = (  # shipment, seizure fields
    ("AWB-A-1", {"seizure_date": "2026-03-02", "country": "KE", "origin_country": "TZ",
                 "destination_country": "VN", "concealment": "baggage", "commodity": "ivory_carving",
                 "quantity": 3, "unit": "pieces"}),
    ("AWB-A-2", {"seizure_date": "2026-04-11", "country": "KE", "origin_country": "NG",
                 "destination_country": "CN", "concealment": "mixed_with_goods", "commodity": "ivory_carving",
                 "quantity": 12, "unit": "kg"}),
    ("AWB-A-3", {"seizure_date": "2026-04-20", "country": "FR", "origin_country": "CM",
                 "destination_country": "FR", "concealment": "on_body", "commodity": "tiger",
                 "quantity": 1, "unit": "pieces"}),
)


@pytest.fixture(scope="module")
def app(tmp_path_factory, model_bundle, photos_root):
    data = tmp_path_factory.mktemp("browser-analyst") / "data"
    (data / "models").mkdir(parents=True)
    (data / "models" / "current").symlink_to(model_bundle)
    with running_app(data, (photos_root,), USERS) as running:
        catalogue = running.ctx.catalogue()
        for shipment, fields in SEIZURES:
            running.ctx.store.add_case(
                officer="omar", action="detained", label=fields["commodity"], decision="identified",
                prediction={}, model_version="v1", shipment_ref=shipment,
                seizure=Seizure.parse(fields).with_commodity(catalogue))
        yield running


def sign_in(page, url: str, name: str, tab: str) -> None:
    """Sign in and wait for `tab` (an analyst has no Identify tab for `login` to wait for)."""
    login(page, url, name, password(name))
    page.get_by_role("tab", name=tab, exact=True).wait_for()


def show(page, since: str = "", until: str = "", country: str = "") -> None:
    for key, value in (("from", since), ("to", until), ("country", country)):
        page.get_by_label(t(f"seizures.analyst.{key}.label"), exact=True).fill(value)
    page.get_by_role("button", name=t("seizures.analyst.run"), exact=True).click()
    wait_quiet(page)


def figures(page) -> int:
    """Figures drawn: the plots' images with some width."""
    return page.evaluate("""() => [...document.querySelectorAll('.gradio-container img')]
        .filter(i => i.closest('[data-testid=\"plot\"], .gradio-plot, .plot-container, .block')
                     && i.naturalWidth > 100 && (i.src || '').startsWith('data:image')).length""")


@pytest.mark.parametrize("size", ["phone", "laptop"])
def test_the_analyst_sees_the_figures_and_downloads_of_the_filtered_records(app, new_page, size):
    page = new_page(PHONE if size == "phone" else VIEWPORT)
    sign_in(page, app.url, "ana", t("app.tab.analyst"))
    tabs = visible_tabs(page)
    assert t("app.tab.analyst") in tabs and t("app.tab.identify") not in tabs
    page.get_by_role("tab", name=t("app.tab.analyst"), exact=True).click()

    show(page)
    page.get_by_text(t("seizures.analyst.count", count=3), exact=True).wait_for()
    page.wait_for_function("n => document.querySelectorAll('.gradio-container img').length >= n", arg=4)
    assert figures(page) >= 4
    links = page.locator("a[download]")
    names = [links.nth(i).get_attribute("download") or "" for i in range(links.count())]
    assert sum(n.endswith(".png") for n in names) == 4 and sum(n.endswith(".csv") for n in names) == 5
    records = next(links.nth(i) for i, n in enumerate(names) if RECORDS_CSV.match(n))
    body = page.request.get(records.get_attribute("href")).text()
    assert all(shipment in body for shipment, _ in SEIZURES)
    assert axe_violations(page) == []
    if size == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert small_targets(page) == []

    show(page, country="FR")  # one record left
    page.get_by_text(t("seizures.analyst.count", count=1), exact=True).wait_for()
    show(page, since="2026-13-01")  # no 13th month: refused by name, the last figures stay
    page.get_by_text("2026-13-01").first.wait_for()
    assert page.get_by_text(t("seizures.analyst.count", count=1), exact=True).is_visible()


def test_an_officer_has_no_analyst_tab_and_the_endpoint_refuses_them(app, new_page):
    page = new_page(VIEWPORT)
    sign_in(page, app.url, "omar", t("app.tab.identify"))
    assert t("app.tab.analyst") not in visible_tabs(page)
    from gradio_client import Client

    client = Client(app.url, auth=("omar", password("omar")), verbose=False)
    with pytest.raises(Exception) as refused:
        client.predict("", "", "", api_name="/analyse")
    assert "3 seizure" not in str(refused.value)
