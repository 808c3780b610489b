"""End to end through the command line: generate a synthetic extract, materialise every
stage, and find the warehouse, report, exports and the runs in the Dagster instance."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def e2e_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e")
    mp = pytest.MonkeyPatch()
    mp.setenv("KOMMUNEBENCH_HOME", str(home))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    for v in ("KOMMUNEBENCH_LANDING", "KOMMUNEBENCH_WAREHOUSE", "KOMMUNEBENCH_OUTPUTS", "KOMMUNEBENCH_TRUTH"):
        mp.delenv(v, raising=False)
    from kommunebench.cli import app

    runner = CliRunner()
    gen = runner.invoke(app, ["generate", "--persons", "12000", "--seed", "11", "--no-progress"])
    assert gen.exit_code == 0, gen.output
    mat = runner.invoke(app, ["materialize"])
    yield home, gen, mat
    mp.undo()


def test_generate_writes_the_landing_layout(e2e_home):
    home, gen, _ = e2e_home
    for reg in ("DREAM", "BEF", "OPHG", "UDDA", "RAMMEVILKAAR"):
        assert any((home / "landing" / reg).iterdir()), reg
    assert (home / "truth").is_dir() and not (home / "landing" / "truth").exists()
    assert "12000 persons" in gen.output


def test_materialize_runs_every_stage(e2e_home):
    home, _, mat = e2e_home
    assert mat.exit_code == 0, mat.output
    assert "pooled_results ok" in mat.output
    with duckdb.connect(str(home / "warehouse.duckdb")) as conn:
        groups = {r[0] for r in conn.execute("SELECT DISTINCT target_group FROM benchmark.league_table").fetchall()}
        assert groups == {"svage_indvandrere", "flygtninge", "familiesammenfoerte"}
        koms = {r[0] for r in conn.execute(
            "SELECT kom FROM benchmark.league_table WHERE measure = 'success' AND target_group = 'flygtninge'").fetchall()}
        # a municipality with no refugee in the small extract has no row (the map shows it as 'no data')
        assert 90 <= len(koms) <= 98
        unranked_small = conn.execute(
            "SELECT count(*) FROM benchmark.league_table WHERE persons < 20 AND rank IS NOT NULL").fetchall()[0][0]
        assert unranked_small == 0
        assert conn.execute("SELECT count(*) FROM sequences.clusters").fetchall()[0][0] > 0


def test_report_and_exports_are_written(e2e_home):
    home, _, _ = e2e_home
    report = home / "outputs" / "report.html"
    assert report.exists() and report.stat().st_size > 100_000
    html = report.read_text(encoding="utf-8")
    assert 'id="map"' in html and "<script src=\"http" not in html
    exports = list((home / "outputs" / "exports").iterdir())
    assert any(p.suffix == ".xlsx" for p in exports) and any(p.suffix == ".csv" for p in exports)
    # no temporary leftovers
    assert not list((home / "outputs").glob(".*partial*"))


def test_cli_runs_are_in_the_shared_instance(e2e_home):
    home, _, _ = e2e_home
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        jobs = {r.job_name for r in instance.get_runs()}
    assert {"load_registers", "register_years", "cohorts", "pooled_results"} <= jobs
    assert (home / "dagster" / "dagster.yaml").exists()


def test_where_lists_the_results(e2e_home):
    home, _, _ = e2e_home
    from kommunebench.cli import app

    out = CliRunner().invoke(app, ["where"]).output
    assert str(home / "warehouse.duckdb") in out and "report.html" in out
