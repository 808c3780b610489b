"""The Dagster UI as its users meet it: ``kommunebench ui`` on a real project home.

A module fixture builds a small but complete project home (a 12,000-person synthetic
extract, every stage run through the CLI's code path into the project's Dagster
instance), and starts ``kommunebench ui`` on a free 127.0.0.1 port with that home in its
environment. The tests then use the UI's GraphQL API (the code location loads, the asset
graph shows every stage group and the asset checks, the CLI runs are in the run history,
a cohort partition launched from the UI materialises) and headless Debian Chromium (the
league table's asset page shows its row count, summary table and funnel plot; the Runs
page lists a CLI run), keeping screenshots in test-artifacts/. The last test stops the
UI with SIGTERM and checks that no process of it is left.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from kommunebench.uiserver import UIServer, graphql, group_processes, launch_ui, stop_ui, wait_until_serving

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # as in test_report_browser.py; Playwright gives each launch its own temporary profile
NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium; CI installs it)",
)
STAGE_GROUPS = {"landing", "reference", "raw", "spells", "cohorts", "outcomes", "models", "sequences", "benchmark", "reports"}
CLI_JOBS = {"load_registers", "register_years", "cohorts", "pooled_results"}
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}

pytestmark = pytest.mark.browser


@dataclass
class UIProject:
    home: Path
    server: UIServer
    steps: list  # orchestration.runner.StepReport of the CLI runs, in order
    cohort_years: list[int]

    @property
    def url(self) -> str:
        return self.server.url

    def step(self, job: str) -> object | None:
        found = [s for s in self.steps if s.job == job]
        return found[-1] if found else None

    @property
    def pooled_error(self) -> str | None:
        s = self.step("pooled_results")
        if s is None:
            return "the pooled_results job did not run"
        return None if s.success else s.error


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory):
    """A project home built through the CLI's code path, served by ``kommunebench ui``."""
    from kommunebench.cli import write_synthetic_manifest
    from kommunebench.paths import cohort_years, register_years
    from kommunebench.synth import generate
    from orchestration.definitions import build_defs
    from orchestration.runner import project_instance, run_pipeline

    home = tmp_path_factory.mktemp("dagster_ui") / "kb"
    mp = pytest.MonkeyPatch()
    mp.setenv("KOMMUNEBENCH_HOME", str(home))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    for var in ("KOMMUNEBENCH_LANDING", "KOMMUNEBENCH_WAREHOUSE", "KOMMUNEBENCH_OUTPUTS", "KOMMUNEBENCH_TRUTH",
                "KOMMUNEBENCH_REGISTER_YEARS", "KOMMUNEBENCH_COHORT_YEARS"):
        mp.delenv(var, raising=False)
    server = None
    try:
        summary = generate(home / "landing", n_persons=12_000, seed=11, truth_dir=home / "truth", progress=False)
        write_synthetic_manifest(home / "landing", summary)
        # Start the UI while the CLI runs (as a user with the UI open would): its startup
        # overlaps the pipeline, and both share the instance at DAGSTER_HOME.
        server = launch_ui(dict(os.environ), home / "ui.log")
        instance = project_instance()
        try:
            report = run_pipeline(
                build_defs(), instance=instance, register_years=register_years(), cohort_years=cohort_years(),
                progress=lambda msg: None,
            )
        finally:
            instance.dispose()
        done = {s.job for s in report.steps if s.success}
        if not {"load_registers", "register_years", "cohorts"} <= done:
            bad = next(s for s in report.steps if not s.success)
            pytest.fail(f"the CLI run of {bad.job} [{bad.partition}] failed, so the UI has nothing to show:\n{bad.error}")
        wait_until_serving(server)
        yield UIProject(home, server, report.steps, cohort_years())
    finally:
        if server is not None:
            stop_ui(server)
        mp.undo()


def _skip_without_league_table(ui: UIProject) -> None:
    if ui.pooled_error:
        pytest.skip(f"the pooled_results CLI run failed, so benchmark/league_table was never materialised: "
                    f"{ui.pooled_error[:400]}")


# ------------------------------------------------------------------ GraphQL

WORKSPACE_Q = """
{ workspaceOrError { __typename ... on PythonError { message }
    ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename
        ... on PythonError { message }
        ... on RepositoryLocation { name repositories { name pipelines { name } } } } } } } }
"""
ASSETS_Q = """
{ assetNodes { assetKey { path } groupName
    assetChecksOrError { __typename ... on AssetChecks { checks { name blocking } } } } }
"""
RUNS_Q = """
query($filter: RunsFilter) { runsOrError(filter: $filter) { __typename ... on PythonError { message }
    ... on Runs { results { runId jobName status tags { key value } } } } }
"""
RUN_Q = """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status jobName tags { key value } } } }"""
LAUNCH_M = """
mutation($p: ExecutionParams!) { launchPipelineExecution(executionParams: $p) { __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on UnauthorizedError { message } } }
"""
FAILURES_Q = """
query($id: ID!) { logsForRun(runId: $id) { __typename ... on EventConnection { events { __typename
    ... on ExecutionStepFailureEvent { stepKey error { message } }
    ... on RunFailureEvent { message } } } } }
"""
MATERIALIZATIONS_Q = """
query($key: AssetKeyInput!, $part: String!) { assetOrError(assetKey: $key) { __typename
    ... on Asset { assetMaterializations(partitions: [$part], limit: 5) { runId partition } } } }
"""


def _location(url: str) -> tuple[str, str, set[str]]:
    data = graphql(url, WORKSPACE_Q)["workspaceOrError"]
    assert data["__typename"] == "Workspace", data
    entries = data["locationEntries"]
    assert len(entries) == 1, [e["name"] for e in entries]
    loc = entries[0]["locationOrLoadError"]
    assert loc["__typename"] == "RepositoryLocation", f"the UI could not load the code location: {loc.get('message')}"
    (repo,) = loc["repositories"]
    return loc["name"], repo["name"], {p["name"] for p in repo["pipelines"]}


def test_ui_loads_every_stage_group_and_the_asset_checks(ui: UIProject) -> None:
    from orchestration.definitions import build_defs

    location, _, jobs = _location(ui.url)
    assert location == "kommunebench"  # the name [tool.dagster] in pyproject.toml gives it
    assert CLI_JOBS <= jobs

    nodes = graphql(ui.url, ASSETS_Q)["assetNodes"]
    groups = {n["groupName"] for n in nodes}
    assert groups == STAGE_GROUPS, f"groups in the UI: {sorted(groups)}"

    graph = build_defs().resolve_asset_graph()
    expected_assets = {tuple(k.path) for k in graph.get_all_asset_keys()}
    shown_assets = {tuple(n["assetKey"]["path"]) for n in nodes}
    assert shown_assets == expected_assets
    for n in nodes:  # each asset in the group the definitions give it
        assert n["groupName"] == graph.get(dg.AssetKey(n["assetKey"]["path"])).group_name, n["assetKey"]

    shown_checks = set()
    for n in nodes:
        checks = n["assetChecksOrError"]
        assert checks["__typename"] == "AssetChecks", (n["assetKey"], checks)
        shown_checks |= {(tuple(n["assetKey"]["path"]), c["name"]) for c in checks["checks"]}
    expected_checks = {(tuple(c.asset_key.path), c.name) for c in graph.asset_check_keys}
    assert shown_checks == expected_checks
    # the blocking checks the pipeline relies on are there, on the assets they guard
    assert (("benchmark", "league_table"), "no_small_municipality_ranked") in shown_checks
    assert any(a[0] == "raw" for a, _ in shown_checks) and any(a[0] == "cohorts" for a, _ in shown_checks)


def test_cli_runs_are_in_the_ui_run_history(ui: UIProject) -> None:
    ids = [s.run_id for s in ui.steps]
    data = graphql(ui.url, RUNS_Q, {"filter": {"runIds": ids}})["runsOrError"]
    assert data["__typename"] == "Runs", data
    shown = {r["runId"]: r for r in data["results"]}
    assert set(shown) == set(ids), f"CLI runs missing from the UI: {sorted(set(ids) - set(shown))}"
    for step in ui.steps:
        run = shown[step.run_id]
        assert run["jobName"] == step.job
        assert run["status"] == ("SUCCESS" if step.success else "FAILURE"), (step.job, step.partition, run["status"])
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert tags.get("dagster/partition") == step.partition, (step.job, tags)
    assert {r["jobName"] for r in shown.values()} == CLI_JOBS
    cohort_parts = sorted(int(s.partition) for s in ui.steps if s.job == "cohorts")
    assert cohort_parts == ui.cohort_years


def test_cohort_partition_launched_from_the_ui_materialises(ui: UIProject) -> None:
    location, repository, jobs = _location(ui.url)
    assert "cohorts" in jobs
    year = "2013" if 2013 in ui.cohort_years else str(ui.cohort_years[0])
    warehouse = ui.home / "warehouse.duckdb"
    before = warehouse.stat().st_mtime_ns
    params = {
        "selector": {"repositoryLocationName": location, "repositoryName": repository, "pipelineName": "cohorts"},
        "runConfigData": {},
        "mode": "default",
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": year},
                                       {"key": "dagster/partition_set", "value": "cohorts_partition_set"}]},
    }
    launched = graphql(ui.url, LAUNCH_M, {"p": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    deadline = time.monotonic() + 180
    status = None
    while time.monotonic() < deadline:
        status = graphql(ui.url, RUN_Q, {"id": run_id})["runOrError"]["status"]
        if status in TERMINAL:
            break
        time.sleep(1)
    if status != "SUCCESS":
        events = graphql(ui.url, FAILURES_Q, {"id": run_id})["logsForRun"].get("events", [])
        why = [e.get("message") or f"{e.get('stepKey')}: {(e.get('error') or {}).get('message')}"
               for e in events if e["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent")]
        pytest.fail(f"run {run_id} of cohorts [{year}] launched from the UI ended {status}: {why}\n"
                    f"UI log:\n{ui.server.log_tail()}")

    for key in (["cohorts", "cohort_members"], ["outcomes", "outcomes"]):
        mats = graphql(ui.url, MATERIALIZATIONS_Q, {"key": {"path": key}, "part": year})["assetOrError"]["assetMaterializations"]
        assert mats and mats[0]["runId"] == run_id and mats[0]["partition"] == year, (key, mats)
    # the run wrote the project's warehouse (its path came from KOMMUNEBENCH_HOME in the UI's environment)
    assert warehouse.stat().st_mtime_ns > before
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        n = conn.execute("SELECT count(*) FROM cohorts.cohort_members WHERE cohort_year = ?", [int(year)]).fetchall()[0][0]
    assert n > 0


# ------------------------------------------------------------------ the browser


def _browser_page(pw, viewport: dict[str, int]):
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    context = browser.new_context(viewport=viewport)
    outside: list[str] = []

    def only_local(route) -> None:  # the UI must work without the internet
        if route.request.url.startswith(("http://127.0.0.1", "data:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    # On 127.0.0.1 Dagster OSS asks a new browser profile to join its community, a second after
    # the page loads; mark it seen as its "Skip" button would, so it cannot cover a screenshot.
    context.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_locator_handler(page.get_by_role("button", name="Skip", exact=True), lambda b: b.click())  # in case
    return browser, page, errors


def _settle(page) -> None:
    """Wait until the dialog's fade-in (a CSS transition) has finished, for a clear screenshot."""
    page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')", timeout=10_000)


_TABLE_JS = """
t => Array.from(t.querySelectorAll('tr')).map(r => Array.from(r.querySelectorAll('th,td')).map(c => c.innerText.trim()))
"""


@NEEDS_CHROMIUM
def test_league_table_asset_page_shows_its_metadata(ui: UIProject) -> None:
    from playwright.sync_api import sync_playwright

    _skip_without_league_table(ui)
    with duckdb.connect(str(ui.home / "warehouse.duckdb"), read_only=True) as conn:
        rows = conn.execute("SELECT count(*) FROM benchmark.league_table").fetchall()[0][0]
        ranked = conn.execute(
            "SELECT count(*) FROM benchmark.league_table "
            "WHERE target_group = 'flygtninge' AND measure = 'success' AND NOT too_small").fetchall()[0][0]
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {name: ARTIFACTS / f"dagster_league_table{name}.png" for name in ("", "_summary", "_funnel")}
    with sync_playwright() as pw:
        browser, page, errors = _browser_page(pw, {"width": 1400, "height": 1100})
        try:
            page.goto(f"{ui.url}/assets/benchmark/league_table")
            metadata = page.locator("table", has=page.locator("td", has_text="funnel_refugees"))
            metadata.wait_for(timeout=60_000)
            row_count = page.get_by_text("Row count", exact=True).locator("xpath=..").inner_text()
            assert row_count.split() == ["Row", "count", f"{rows:,}"], f"row count {rows:,} not shown: {row_count!r}"
            metadata.scroll_into_view_if_needed()
            page.screenshot(path=str(shots[""]))

            # The UI shows Markdown of 1,000 characters or more behind "[Show Markdown]", in a dialog:
            # the summary table and the funnel plot (an inline PNG) are both that long.
            dialog = page.get_by_role("dialog")
            metadata.locator("tr", has_text="summary").get_by_text("Show Markdown").first.click()
            summary = dialog.locator("table", has_text="units_ranked")
            summary.wait_for(timeout=15_000)
            cells = summary.evaluate(_TABLE_JS)
            header, body = cells[0], [dict(zip(cells[0], r)) for r in cells[1:] if r]
            assert {"target_group", "measure", "persons", "units_ranked", "better", "worse"} <= set(header), header
            refugees = [r for r in body if r["target_group"] == "flygtninge" and r["measure"] == "success"]
            assert len(refugees) == 1, body
            assert int(refugees[0]["units_ranked"]) == ranked
            _settle(page)
            page.screenshot(path=str(shots["_summary"]))
            dialog.get_by_role("button", name="Close").click()
            dialog.wait_for(state="detached", timeout=10_000)

            metadata.locator("tr", has_text="funnel_refugees").get_by_text("Show Markdown").click()
            img = dialog.locator('img[alt="funnel plot, refugees"]')
            img.wait_for(timeout=15_000)
            page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle(), timeout=15_000)
            size = img.evaluate("i => [i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]")
            assert size[0] > 200 and size[1] > 200 and size[2] > 200, f"funnel image not rendered: {size}"
            _settle(page)
            page.screenshot(path=str(shots["_funnel"]))
        finally:
            browser.close()
    assert errors == [], f"errors in the page: {errors}"
    for shot in shots.values():
        assert shot.stat().st_size > 20_000, shot


@NEEDS_CHROMIUM
def test_runs_page_lists_a_cli_run(ui: UIProject) -> None:
    from playwright.sync_api import sync_playwright

    cli_run = ui.step("cohorts")  # the last cohort year's CLI run
    short = cli_run.run_id[:8]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dagster_runs.png"
    with sync_playwright() as pw:
        browser, page, errors = _browser_page(pw, {"width": 1400, "height": 1100})
        try:
            page.goto(f"{ui.url}/runs")
            link = page.locator(f'a[href*="{cli_run.run_id}"]', has_text=short)
            link.wait_for(timeout=60_000)
            # the runs list is a grid of divs: the row is the innermost block holding the link and the status
            row = page.locator("div", has=link).filter(has_text="Success").last
            text = row.inner_text()
            assert "cohorts" in text and f"partition: {cli_run.partition}" in text and "Success" in text, text
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert errors == [], f"errors in the page: {errors}"
    assert shot.stat().st_size > 20_000


def test_ui_stops_cleanly_on_sigterm(ui: UIProject) -> None:
    """Last: SIGTERM to ``kommunebench ui`` stops dagster dev, the webserver, daemon and code server."""
    pgid = ui.server.pgid
    assert len(group_processes(pgid)) >= 3, group_processes(pgid)  # the command, dagster dev, its services
    killed = stop_ui(ui.server, timeout=60)
    assert killed == [], f"still running 60 s after SIGTERM (then killed):\n" + "\n".join(killed)
    assert ui.server.process.returncode == 0, ui.server.log_tail()
    assert group_processes(pgid) == {}
