"""Shared fixtures: temporary project homes, resources and Dagster instances."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))  # for `import builders`

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture
def project_home(tmp_path, monkeypatch):
    """A throwaway KOMMUNEBENCH_HOME with its own landing, warehouse, outputs and Dagster home."""
    home = tmp_path / "kb"
    monkeypatch.setenv("KOMMUNEBENCH_HOME", str(home))
    monkeypatch.delenv("KOMMUNEBENCH_LANDING", raising=False)
    monkeypatch.delenv("KOMMUNEBENCH_WAREHOUSE", raising=False)
    monkeypatch.delenv("KOMMUNEBENCH_OUTPUTS", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return home


@pytest.fixture
def resources(project_home):
    from orchestration.resources import default_resources

    return default_resources()


@pytest.fixture
def defs(resources):
    from orchestration.definitions import build_defs

    return build_defs(resources)


@pytest.fixture
def instance():
    import dagster as dg

    with dg.DagsterInstance.ephemeral() as inst:
        yield inst
