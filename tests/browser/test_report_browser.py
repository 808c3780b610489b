"""The HTML report in a real browser (Debian's chromium, headless, networking blocked).

Opens the report from a file:// URL, switches the map's drop-down to another target
group, clicks a municipality and checks the details panel; keeps a screenshot in
test-artifacts/report.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kommunebench.report.demo import build_demo_inputs
from kommunebench.report.html import write_report
from kommunebench.report.inputs import protect_inputs

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # Playwright gives each launch its own temporary profile (no --user-data-dir allowed)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(apt-get install chromium; CI installs it)"),
]

# A point on screen inside the given municipality's map shape. Plotly's geo paths have
# pointer-events: none (a drag layer on top takes the mouse and plotly finds the shape), so
# test containment with the path's own geometry.
_FIND_POINT_JS = """
([divId, kom]) => {
  const paths = Array.from(document.querySelectorAll('#' + divId + ' path.choroplethlocation'));
  for (const p of paths) {
    const d = p.__data__;
    if (!d || String(d.loc) !== String(kom)) continue;
    const b = p.getBoundingClientRect();
    const toLocal = p.getScreenCTM().inverse();
    for (let i = 6; i > 0; i--) for (let j = 1; j < 12; j++) {
      for (const fx of [i / 12, 1 - i / 12]) {
        const x = b.left + b.width * fx, y = b.top + b.height * j / 12;
        if (p.isPointInFill(new DOMPoint(x, y).matrixTransform(toLocal))) return [x, y];
      }
    }
  }
  return null;
}
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    inputs = build_demo_inputs(7)
    path = write_report(inputs, tmp_path_factory.mktemp("report") / "report.html")
    return path, protect_inputs(inputs).league


def _expected(league, group: str, kom: int) -> str:
    row = league[(league.target_group == group) & (league.measure == "success") & (league.kom == kom)].iloc[0]
    return f"{float(row.indicator_pct):+.1f} %"


def test_report_map_dropdown_and_click(report) -> None:
    from playwright.sync_api import sync_playwright

    path, league = report
    # a large, ranked municipality whose indicator differs between the two groups
    kom, name = 630, "Vejle"
    before, after = _expected(league, "svage_indvandrere", kom), _expected(league, "flygtninge", kom)
    assert before != after
    outside: list[str] = []
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000}, offline=True)

            def block(route) -> None:
                if route.request.url.startswith("file:"):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", block)
            page = context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(path.as_uri())
            page.wait_for_function("document.getElementById('map').dataset.ready === 'true'", timeout=30_000)
            page.wait_for_selector("#map path.choroplethlocation", timeout=30_000)

            # click before switching: the panel shows the first group
            xy = page.evaluate(_FIND_POINT_JS, ["map", kom])
            assert xy is not None, f"municipality {kom} not drawn on the map"
            page.mouse.click(*xy)
            page.wait_for_function("document.getElementById('details').dataset.kom === '630'")
            details = page.locator("#details")
            assert name in details.inner_text()
            assert before in details.inner_text()

            # switch the drop-down in the legend area to refugees
            page.locator("#map .updatemenu-header-group").click()
            page.locator("#map .updatemenu-dropdown-button", has_text="Refugees: job").click()
            page.wait_for_function(
                "document.getElementById('map').data[0].meta === 'flygtninge|success'", timeout=10_000)
            page.wait_for_timeout(300)
            xy = page.evaluate(_FIND_POINT_JS, ["map", kom])
            page.mouse.click(*xy)
            page.wait_for_function(
                "document.getElementById('details').dataset.key === 'flygtninge|success'", timeout=10_000)
            text = details.inner_text()
            assert name in text and "Refugees" in text
            assert after in text, f"expected indicator {after} in details panel:\n{text}"
            assert "Rank, interval" in text and "Persons" in text
            page.screenshot(path=str(ARTIFACTS / "report.png"))
        finally:
            browser.close()
    assert outside == [], f"the report tried to reach the network: {outside}"
    assert errors == [], f"errors in the page: {errors}"
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_report_league_table_sorts(report) -> None:
    from playwright.sync_api import sync_playwright

    path, league = report
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(offline=True).new_page()
            page.goto(path.as_uri())
            page.select_option("#league-filter", "flygtninge|success")
            page.locator("#league-table th", has_text="Persons").click()  # ascending
            page.locator("#league-table th", has_text="Persons").click()  # descending
            first = page.locator("#league-table tbody tr:not([hidden])").first
            top = league[(league.target_group == "flygtninge") & (league.measure == "success")]
            expected = top.sort_values("persons", ascending=False, na_position="last").iloc[0]
            assert first.get_attribute("data-kom") == str(int(expected.kom))
        finally:
            browser.close()
