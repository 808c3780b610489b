"""Everything analysts see outside the warehouse: disclosure control, maps, plots, the
HTML report and the exports. Pure functions on aggregate tables; no Dagster imports.

Every output goes through ``kommunebench.report.disclosure`` (via ``protect_inputs``)
before it is drawn or written.
"""

from kommunebench.report.demo import build_demo_inputs
from kommunebench.report.disclosure import (
    DEFAULT_THRESHOLD,
    DisclosureError,
    PersonLevelDataError,
    TableSpec,
    assert_aggregate,
    disclosure_violations,
    protect,
    violations_report,
)
from kommunebench.report.exports import export_tables, write_csv_parquet, write_excel, write_exports
from kommunebench.report.geo import build_simplified_geojson, load_municipality_geojson, write_simplified_geojson
from kommunebench.report.html import render_report, write_report
from kommunebench.report.inputs import (
    ReportInputs,
    assert_publishable,
    disclosure_report,
    protect_inputs,
    published_tables,
    validate_inputs,
)
from kommunebench.report.static import chronogram_png, funnel_png, map_png

__all__ = [
    "DEFAULT_THRESHOLD", "DisclosureError", "PersonLevelDataError", "ReportInputs", "TableSpec",
    "assert_aggregate", "assert_publishable", "build_demo_inputs", "build_simplified_geojson",
    "chronogram_png", "disclosure_report", "disclosure_violations", "export_tables", "funnel_png",
    "load_municipality_geojson", "map_png", "protect", "protect_inputs", "published_tables",
    "render_report", "validate_inputs", "violations_report", "write_csv_parquet", "write_excel",
    "write_exports", "write_report", "write_simplified_geojson",
]
