"""Municipality boundaries: build the simplified, merged GeoJSON the maps use, and load it.

The source is DAGI (Danmarks Administrative Geografiske Inddeling), Geodatastyrelsen &
Danske Kommuner, 2014, 1:500,000, WGS84, with several polygons per municipality
(islands) and a code ``KOMKODE`` of four digits. The shipped copy has

* one feature per municipality (98), the polygons of a code merged with
  ``shapely.union_all``; 0411 Christiansø, which is not a municipality, dropped;
* shared borders simplified together with ``shapely.coverage_simplify`` (Visvalingam-
  Whyatt on the coverage, so neighbours keep a common edge: no gaps or slivers);
* islands smaller than ``min_island_km2`` dropped (never a municipality's largest part);
* coordinates rounded to ``decimals`` places (4 places = about 6-11 m in Denmark);
* exterior rings clockwise, holes counter-clockwise (the orientation d3-geo and hence
  plotly's ``geo`` subplots expect; RFC 7946 asks for the opposite, but browsers' map
  code follows d3);
* feature ``id`` and ``properties.kom`` = the 3-digit code as an int, ``properties.name``
  and ``region`` from ``kommunebench/reference/municipalities.csv``;
* a top-level ``metadata`` member with the source credit and the build settings.

Rebuild with ``python -m kommunebench.report.geo [SOURCE] [OUTPUT]``.
"""

from __future__ import annotations

import json
import math
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.polygon import orient

from kommunebench.refdata import REFERENCE_DIR, file_sha256, municipalities, municipality_aliases

ATTRIBUTION = "Contains data from the Danish Agency for Data Supply and Infrastructure (DAGI)"
SOURCE_DESCRIPTION = (
    "Danmarks Administrative Geografiske Inddeling (DAGI), Geodatastyrelsen & Danske Kommuner, "
    "FOT data set 2014-02-13, scale 1:500,000, WGS84"
)
SIMPLIFIED_NAME = "municipalities_simplified.geojson"
SIMPLIFIED_PATH = REFERENCE_DIR / SIMPLIFIED_NAME
DEFAULT_SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "dk_municipalities_dagi_2014.geojson"
NOT_MUNICIPALITIES = frozenset({411})  # Christiansø

_KM_PER_DEG_LAT = 111.32


def _area_km2(geom: Polygon, lat: float) -> float:
    """Approximate area in km² of a lon/lat polygon at latitude ``lat`` (equirectangular)."""
    return geom.area * _KM_PER_DEG_LAT**2 * math.cos(math.radians(lat))


def _round_ring(coords: Any, decimals: int) -> list[list[float]]:
    out: list[list[float]] = []
    for xy in coords:
        p = [round(xy[0], decimals), round(xy[1], decimals)]
        if not out or out[-1] != p:
            out.append(p)
    return out


def _polygons(geom: Any) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    if hasattr(geom, "geoms"):  # GeometryCollection after simplification
        return [p for g in geom.geoms for p in _polygons(g)]
    return []


def _to_geojson_geometry(geom: Any, decimals: int, min_island_km2: float) -> dict[str, Any]:
    """Drop small islands, orient rings clockwise (d3), round coordinates."""
    polys = [p for p in _polygons(geom) if not p.is_empty]
    if not polys:
        raise ValueError("municipality geometry is empty after simplification")
    lat = polys[0].centroid.y
    largest = max(polys, key=lambda p: p.area)
    keep = [p for p in polys if p is largest or _area_km2(p, lat) >= min_island_km2]
    rings: list[list[list[list[float]]]] = []
    for p in sorted(keep, key=lambda p: -p.area):
        p = orient(p, sign=-1.0)  # exterior clockwise, holes counter-clockwise
        ext = _round_ring(p.exterior.coords, decimals)
        if len(ext) < 4:
            continue
        holes = [h for h in (_round_ring(r.coords, decimals) for r in p.interiors) if len(h) >= 4]
        rings.append([ext, *holes])
    if not rings:
        raise ValueError("municipality geometry has no ring left after rounding")
    if len(rings) == 1:
        return {"type": "Polygon", "coordinates": rings[0]}
    return {"type": "MultiPolygon", "coordinates": rings}


def build_simplified_geojson(
    source: Path = DEFAULT_SOURCE,
    *,
    tolerance: float = 0.004,
    decimals: int = 4,
    min_island_km2: float = 0.5,
) -> dict[str, Any]:
    """Read the DAGI GeoJSON and return the simplified, merged FeatureCollection (a dict).

    ``tolerance`` is the coverage simplification tolerance in degrees (Visvalingam-Whyatt
    area threshold is tolerance², as in ``shapely.coverage_simplify``). Raises
    ``ValueError`` when a DAGI code or name does not match ``municipalities.csv``.
    """
    source = Path(source)
    raw = json.loads(source.read_text(encoding="utf-8"))
    if raw.get("type") != "FeatureCollection":
        raise ValueError(f"{source}: not a GeoJSON FeatureCollection")
    ref = municipalities()
    names = dict(zip(ref["kommunekode"].to_list(), ref["navn"].to_list()))
    regions = dict(zip(ref["kommunekode"].to_list(), ref["region"].to_list()))
    aliases = municipality_aliases()

    parts: dict[int, list[Any]] = {}
    for i, feat in enumerate(raw["features"]):
        props = feat.get("properties") or {}
        try:
            code = int(str(props["KOMKODE"]))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{source}: feature {i}: property 'KOMKODE' missing or not a number") from exc
        if code in NOT_MUNICIPALITIES:
            continue
        if code not in names:
            raise ValueError(f"{source}: feature {i}: KOMKODE {props['KOMKODE']!r} is not in municipalities.csv")
        dagi_name = aliases.get(props.get("KOMNAVN", ""), props.get("KOMNAVN", ""))
        if dagi_name != names[code]:
            raise ValueError(
                f"{source}: feature {i}: KOMKODE {code} is named {props.get('KOMNAVN')!r}, "
                f"municipalities.csv says {names[code]!r}"
            )
        geom = shapely.force_2d(shape(feat["geometry"]))
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        parts.setdefault(code, []).append(geom)
    missing = sorted(set(names) - set(parts))
    if missing:
        raise ValueError(f"{source}: no boundary for municipalities {missing}")

    codes = sorted(parts)
    merged = [shapely.union_all(parts[c]) for c in codes]
    simplified = shapely.coverage_simplify(merged, tolerance, simplify_boundary=True)

    features = []
    for code, geom in zip(codes, simplified):
        features.append(
            {
                "type": "Feature",
                "id": code,
                "properties": {"kom": code, "name": names[code], "region": regions[code]},
                "geometry": _to_geojson_geometry(geom, decimals, min_island_km2),
            }
        )
    return {
        "type": "FeatureCollection",
        "metadata": {
            "attribution": ATTRIBUTION,
            "source": SOURCE_DESCRIPTION,
            "source_file": source.name,
            "source_sha256": file_sha256(source),
            "licence": "Danish public geodata: free to use and pass on with attribution",
            "build": {
                "script": "python -m kommunebench.report.geo",
                "method": "shapely.union_all per KOMKODE; shapely.coverage_simplify",
                "tolerance_degrees": tolerance,
                "coordinate_decimals": decimals,
                "min_island_km2": min_island_km2,
                "dropped": "0411 Christiansø (not a municipality)",
                "ring_orientation": "exterior clockwise (d3-geo)",
            },
        },
        "features": features,
    }


def write_simplified_geojson(
    source: Path = DEFAULT_SOURCE, output: Path = SIMPLIFIED_PATH, **kwargs: Any
) -> Path:
    """Build (see ``build_simplified_geojson``) and write compact JSON to ``output``."""
    fc = build_simplified_geojson(source, **kwargs)
    output = Path(output)
    output.write_text(json.dumps(fc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return output


@lru_cache(maxsize=2)
def _load(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def load_municipality_geojson(path: Path | None = None) -> dict[str, Any]:
    """The shipped simplified boundaries as a dict (a fresh copy on every call)."""
    p = Path(path or SIMPLIFIED_PATH)
    if not p.exists():
        raise FileNotFoundError(f"{p} not found: rebuild it with `python -m kommunebench.report.geo`")
    return json.loads(_load(str(p)))


def municipality_shapes(path: Path | None = None) -> dict[int, Any]:
    """kom -> shapely geometry of the shipped boundaries (for static thumbnails)."""
    fc = load_municipality_geojson(path)
    return {int(f["properties"]["kom"]): shape(f["geometry"]) for f in fc["features"]}


if __name__ == "__main__":  # pragma: no cover - thin command line wrapper
    args = sys.argv[1:]
    src = Path(args[0]) if args else DEFAULT_SOURCE
    out = Path(args[1]) if len(args) > 1 else SIMPLIFIED_PATH
    written = write_simplified_geojson(src, out)
    print(f"{written} ({written.stat().st_size / 1024:.0f} KiB)")
