"""The shipped, simplified municipality boundaries."""

from __future__ import annotations

import json

import pytest
import shapely
from shapely.geometry import shape

from kommunebench.refdata import REFERENCE_DIR, municipalities
from kommunebench.report import geo


@pytest.fixture(scope="module")
def shipped() -> dict:
    return json.loads(geo.SIMPLIFIED_PATH.read_text(encoding="utf-8"))


def test_one_feature_per_municipality_with_int_codes(shipped):
    codes = [f["properties"]["kom"] for f in shipped["features"]]
    assert len(shipped["features"]) == 98
    assert all(isinstance(c, int) for c in codes)
    assert sorted(codes) == sorted(municipalities()["kommunekode"].to_list())
    assert 411 not in codes  # Christiansø is not a municipality
    names = dict(zip(municipalities()["kommunekode"].to_list(), municipalities()["navn"].to_list()))
    assert all(f["properties"]["name"] == names[f["properties"]["kom"]] for f in shipped["features"])
    assert all(f["id"] == f["properties"]["kom"] for f in shipped["features"])


def test_small_valid_and_inside_denmark(shipped):
    assert geo.SIMPLIFIED_PATH.stat().st_size < 1_000_000
    total = shapely.union_all([shape(f["geometry"]) for f in shipped["features"]])
    minx, miny, maxx, maxy = total.bounds
    assert 7.9 < minx < 8.2 and 54.5 < miny < 54.7 and 15.0 < maxx < 15.3 and 57.6 < maxy < 57.8
    for f in shipped["features"]:
        g = shape(f["geometry"])
        assert g.is_valid and not g.is_empty, f["properties"]["name"]
        text = json.dumps(f["geometry"]["coordinates"])
        assert all(len(x.split(".")[-1]) <= 4 for x in text.replace("[", "").replace("]", "").split(",") if "." in x)


def test_neighbours_share_borders_without_overlap(shipped):
    shapes = {f["properties"]["kom"]: shape(f["geometry"]) for f in shipped["features"]}
    # Aarhus (751) and Skanderborg (746) are neighbours: they touch, and do not overlap
    a, b = shapes[751], shapes[746]
    assert a.intersection(b).area < 1e-6 * min(a.area, b.area)
    assert a.buffer(1e-4).intersects(b)


def test_source_credit_in_file_and_readme(shipped):
    assert shipped["metadata"]["attribution"] == geo.ATTRIBUTION
    assert "Danish Agency for Data Supply and Infrastructure (DAGI)" in geo.ATTRIBUTION
    readme = (REFERENCE_DIR / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if geo.SIMPLIFIED_NAME in line)
    assert "Danish Agency for Data Supply and Infrastructure (DAGI)" in row


@pytest.mark.skipif(not geo.DEFAULT_SOURCE.exists(), reason=f"DAGI source {geo.DEFAULT_SOURCE} not present")
def test_rebuild_reproduces_the_shipped_file(shipped):
    rebuilt = geo.build_simplified_geojson(geo.DEFAULT_SOURCE)
    assert rebuilt["features"] == shipped["features"]


def test_build_rejects_unknown_code(tmp_path):
    bad = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"KOMKODE": "0999", "KOMNAVN": "Nowhere"},
        "geometry": {"type": "Polygon", "coordinates": [[[10, 56], [10.1, 56], [10.1, 56.1], [10, 56]]]},
    }]}
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="KOMKODE '0999' is not in municipalities.csv"):
        geo.build_simplified_geojson(path)
