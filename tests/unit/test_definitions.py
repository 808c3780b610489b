"""The definitions load, and a snapshot of every asset key, group, owner, kind and check.

A renamed key, a moved group or a dropped check shows up here in review. After an
intended change, refresh the snapshot with ``UPDATE_SNAPSHOTS=1 pytest tests/unit/test_definitions.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SNAPSHOT = Path(__file__).parent.parent / "snapshots" / "definitions.json"


def describe_defs():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    out = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        out[key.to_user_string()] = {
            "group": node.group_name,
            "owners": sorted(node.owners),
            "kinds": sorted(node.kinds),
            "partitioned": node.partitions_def is not None,
            "has_description": bool(node.description),
            "has_code_version": node.code_version is not None,
            "checks": sorted(c.name for c in graph.asset_check_keys if c.asset_key == key),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
        }
    out["__jobs__"] = sorted(j.name for j in defs.jobs)
    return out


def test_definitions_load_and_match_snapshot():
    got = describe_defs()
    if os.environ.get("UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(SNAPSHOT.read_text())


def test_every_materialised_asset_is_documented_and_versioned():
    got = describe_defs()
    for key, node in got.items():
        if key.startswith("__") or key.startswith("landing/"):
            continue
        assert node["has_description"] and node["has_code_version"], key
        assert node["owners"], key
        assert node["group"] == key.split("/")[0] or (key.startswith("ref/") and node["group"] == "reference"), key


def test_stages_are_groups():
    got = describe_defs()
    groups = {n["group"] for k, n in got.items() if not k.startswith("__")}
    assert {"landing", "reference", "raw", "spells", "cohorts", "outcomes"} <= groups
