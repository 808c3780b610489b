"""Too little memory fails a run cleanly: one message naming the step and the setting to
change, exit code 1, no traceback on the console, the last good results unchanged, and
the next run (with enough memory) goes through."""

from __future__ import annotations

import subprocess
import sys

import pytest

from faults.test_kill_and_rerun import env_for, kb, kommunebench, q, raw_delivery, sha_of

pytestmark = pytest.mark.integration

PERSONS = 3000


def libraries_mapped(env) -> int:
    """Address space a worker maps before it reads any data (its imports), as the worker runs."""
    code = ("import orchestration.definitions, great_expectations, kommunebench.machine as m; "
            "print(m.mapped_bytes())")
    out = subprocess.run([sys.executable, "-c", code], env={**env, "MALLOC_ARENA_MAX": "2"}, capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def two_deliveries(tmp_path_factory):
    root = tmp_path_factory.mktemp("memory")
    landings = {}
    for name, seed in (("A", 3), ("B", 4)):
        landing = root / f"landing_{name}"
        p = subprocess.run([kommunebench(), "generate", "--persons", str(PERSONS), "--seed", str(seed), "--no-progress",
                            "--out", str(landing), "--truth", str(root / f"truth_{name}")],
                           env=env_for(root / "gen", landing), capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        landings[name] = landing
    return root / "home", landings, {n: sha_of(p) for n, p in landings.items()}


def test_a_load_under_a_too_small_address_space_fails_cleanly(two_deliveries):
    home, landing, sha = two_deliveries
    db = home / "warehouse.duckdb"
    r = kb(home, landing["A"], "materialize", "--stage", "registers")
    assert r.returncode == 0, r.stdout + r.stderr

    # B under a limit that lets the worker load its libraries and little more
    limit = libraries_mapped(env_for(home, landing["B"])) + 150 * 2**20
    cmd = ["prlimit", f"--as={limit}", "--", kommunebench(), "materialize", "--stage", "registers"]
    p = subprocess.run(cmd, env=env_for(home, landing["B"]), capture_output=True, text=True, timeout=600)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert "raw_registers" in out  # the step
    assert "KOMMUNEBENCH_DUCKDB_MEMORY_LIMIT" in out and "memory" in out.lower()  # the setting
    assert "Traceback" not in out
    assert raw_delivery(db, sha) == "A"  # the last good results
    assert q(db, "SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, '_stage_')") == [(0,)]

    # with enough memory the same delivery goes through, and nothing waits for the failed run
    r = kb(home, landing["B"], "materialize", "--stage", "registers")
    assert r.returncode == 0, r.stdout + r.stderr
    assert raw_delivery(db, sha) == "B"
