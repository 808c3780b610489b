"""The HTML report, its plots and the static thumbnails."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from kommunebench.report import disclosure as sdc
from kommunebench.report import plots, static
from kommunebench.report.demo import build_demo_inputs
from kommunebench.report.geo import ATTRIBUTION
from kommunebench.report.html import render_report
from kommunebench.report.inputs import protect_inputs

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def inputs():
    return build_demo_inputs(5)


@pytest.fixture(scope="module")
def protected(inputs):
    return protect_inputs(inputs)


@pytest.fixture(scope="module")
def page(inputs) -> str:
    return render_report(inputs)


def test_report_has_map_details_and_every_section(page, inputs):
    assert 'id="map"' in page and 'id="details"' in page
    assert "kbInitMap('map')" in page and "plotly_click" in page
    for section in ("map-section", "league", "uncertainty", "activity", "sequences", "model", "quality",
                    "provenance"):
        assert f'id="{section}"' in page, section
    for div in ("funnel", "caterpillar", "activity-scatter", "chronogram", "clusters"):
        assert f'id="{div}"' in page, div
    assert 'id="league-table"' in page and 'id="league-filter"' in page
    assert inputs.code_version in page
    for sha in inputs.input_checksums["sha256"]:
        assert sha in page
    assert ATTRIBUTION in page


def test_report_is_offline(page):
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and not [s for s in scripts if "src=" in s]
    assert not re.search(r"<link[^>]+href=[\"']https?:", page)
    assert not re.search(r"<img[^>]+src=[\"']https?:", page)
    assert "window.PlotlyGeoAssets" in page  # the base-map topojson is never fetched
    assert len(page) > 3_000_000  # plotly.js is inlined


def test_report_shows_no_small_cells(page, inputs):
    raw = inputs.league
    tiny = raw[raw["persons"] < 5].iloc[0]
    row = re.search(
        rf'<tr data-key="{tiny.target_group}\|{tiny.measure}" data-kom="{int(tiny.kom)}">(.*?)</tr>', page
    ).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[2] == "suppressed"  # persons
    assert f">{int(tiny.persons)}<" not in row


def test_report_refuses_person_level_input(inputs):
    with pytest.raises(sdc.PersonLevelDataError):
        render_report(replace(inputs, chronogram=inputs.chronogram.assign(pnr="x")))


def test_map_covers_98_municipalities_in_every_view(protected):
    fig, details = plots.map_figure(protected.league)
    menu = fig.layout.updatemenus[0]
    assert len(menu.buttons) == 6
    for button in menu.buttons:
        locations = [k for trace in button.args[0]["locations"] for k in trace]
        assert sorted(locations) == sorted(set(locations)) and len(locations) == 98
    # pooled job centre: both members carry the unit's details
    key = plots.key_of("flygtninge", "success")
    assert details[key]["561"]["rows"] == details[key]["563"]["rows"]
    assert any("pooled" in v for _, v in details[key]["563"]["rows"])


def test_too_small_units_are_grey_and_labelled(protected):
    fig, details = plots.map_figure(protected.league)
    league = protected.league
    small = league[(league.target_group == "svage_indvandrere") & (league.measure == "success") & league.too_small]
    kom = int(small.iloc[0].kom)
    assert kom in list(fig.data[1].locations) and kom not in list(fig.data[0].locations)
    assert details["svage_indvandrere|success"][str(kom)]["status"] == "Too few persons to rank"


def test_static_thumbnails_are_png(protected):
    for png in (static.chronogram_png(protected.chronogram),
                static.funnel_png(protected.league, "flygtninge", "success"),
                static.map_png(protected.league, "flygtninge", "success")):
        assert png.startswith(PNG) and len(png) > 5_000
    with pytest.raises(ValueError, match="no rows"):
        static.funnel_png(protected.league, "flygtninge", "nonsense")


def test_chronogram_suppressed_band_keeps_weeks_whole(protected):
    band = plots.chronogram_with_suppressed(protected.chronogram)
    sums = band.groupby(["target_group", "week"])["share"].sum()
    assert sums.between(0.999, 1.001).all()
    assert (band[band.state == "SUPPRESSED"]["share"] > 0).any()
