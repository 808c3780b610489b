"""User mistakes get one clear message and exit code 2, never a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kommunebench.cli import app


@pytest.fixture
def cli(project_home, monkeypatch):
    return CliRunner()


@pytest.mark.parametrize("args, message", [
    (["materialize", "--cohort-year", "20x3"], "--cohort-year='20x3': expected years like 2013, 2012-2014 or 2012,2013"),
    (["materialize", "--cohort-year", "2015-2013"], "the range 2015-2013 runs backwards (write 2013-2015)"),
    (["materialize", "--register-year", "1850"], "expected years between 1990 and 2100"),
    (["materialize", "--cohort-year", "2030"], "year(s) 2030 are not partitions"),
    (["materialize", "--stage", "everything"], "unknown stage(s) everything"),
])
def test_bad_arguments(cli, args, message):
    r = cli.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_missing_landing_folder(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("KOMMUNEBENCH_LANDING", str(tmp_path / "no_such_folder"))
    for cmd in (["materialize"], ["run"]):
        r = cli.invoke(app, cmd)
        assert r.exit_code == 2, r.output
        assert f"the landing folder {tmp_path / 'no_such_folder'} (KOMMUNEBENCH_LANDING) does not exist" in r.output
        assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1


def test_malformed_year_setting(cli, monkeypatch):
    monkeypatch.setenv("KOMMUNEBENCH_COHORT_YEARS", "2011-20x5")
    r = cli.invoke(app, ["materialize"])
    assert r.exit_code == 2 and "KOMMUNEBENCH_COHORT_YEARS='2011-20x5'" in r.output and "Traceback" not in r.output
