"""Data-quality rules and their outcomes, independent of Dagster.

Rules come in two kinds:

* Great Expectations suites, generated from the register contract and validated on a
  pandas frame per delivered file (GX's SQL datasource does not work through
  duckdb-engine, see stack-notes), so every failure names its file;
* SQL aggregate rules that must see every row (uniqueness across files, codebook
  coverage of the weekly codes, spell reconciliation), run in DuckDB.

Both produce :class:`RuleOutcome` objects. An outcome never carries person-level
values: examples are given only for code-like columns, never for identifiers.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kommunebench.contract import CODELISTS, Register

#: Plausible range of every date in a delivery.
DATE_MIN = pd.Timestamp("1900-01-01")
DATE_MAX = pd.Timestamp("2030-12-31")

#: Columns whose values identify persons: never shown as examples.
IDENTIFIER_COLUMNS = frozenset({"PNR"})


@dataclass
class RuleOutcome:
    rule: str  # e.g. expect_column_values_to_be_in_set
    column: str | None
    passed: bool
    failing_rows: int = 0
    checked_rows: int = 0
    file: str | None = None
    blocking: bool = True
    examples: list[dict[str, Any]] = field(default_factory=list)  # [{"value": v, "count": n}]
    detail: str = ""
    #: ``_source_row`` of the failing rows, for the quarantine table (warehouse only).
    row_ids: list[int] = field(default_factory=list, repr=False)
    #: A query returning ``(_source_file, _source_row, _value)`` of the failing rows, with its
    #: bound parameters, for the quarantine table (warehouse only; never shown).
    rows_sql: str | None = field(default=None, repr=False)
    rows_params: dict[str, Any] = field(default_factory=dict, repr=False)
    #: The register whose rows broke the rule, when the rule reads several registers.
    register: str | None = None

    def message(self) -> str:
        where = f"file {self.file}" if self.file else "all files"
        col = f", column {self.column}" if self.column else ""
        rows = f" by {self.failing_rows} of {self.checked_rows} rows" if self.checked_rows else ""
        ex = ""
        if self.examples:
            ex = "; e.g. " + ", ".join(f"{e['value']!r} ({e['count']})" for e in self.examples[:5])
        detail = f"; {self.detail}" if self.detail else ""
        return f"{where}{col}: rule {self.rule} broken{rows}{ex}{detail}"


def file_outcome(rule: str, file: str, detail: str, *, register: str | None = None, blocking: bool = True,
                 column: str | None = None, examples: list[dict[str, Any]] | None = None) -> RuleOutcome:
    """A rule about a whole file (unreadable, empty, misnamed, outside the landing folder)."""
    return RuleOutcome(rule, column, False, file=file, blocking=blocking, detail=detail, register=register,
                       examples=examples or [])


class ValidationError(Exception):
    """A delivery broke blocking rules. The message names file, column and rule."""

    def __init__(self, stage: str, outcomes: list[RuleOutcome]):
        self.stage = stage
        self.outcomes = [o for o in outcomes if not o.passed and o.blocking]
        lines = [o.message() for o in self.outcomes]
        super().__init__(f"{stage}: {len(lines)} blocking rule(s) failed:\n  - " + "\n  - ".join(lines))


def failed_blocking(outcomes: list[RuleOutcome]) -> list[RuleOutcome]:
    return [o for o in outcomes if not o.passed and o.blocking]


# --------------------------------------------------------------------------- GX


def _gx():
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx


_CONTEXT: Any = None


def _gx_context():
    """One ephemeral GX context per process (each new one leaves a temporary docs folder)."""
    global _CONTEXT
    if _CONTEXT is None:
        gx = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        _CONTEXT = gx.get_context(mode="ephemeral")
        _CONTEXT.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return _CONTEXT


def register_expectations(
    register: Register,
    present_columns: list[str],
    codelists: dict[str, list],
) -> list[Any]:
    """The GX expectations of a register's fixed (non-wide) columns.

    ``codelists`` holds the values of the reference code lists (``kom``, ``countries``,
    ``ophg_grundlag``) keyed by name; the small lists come from the contract.
    """
    gx = _gx()
    E = gx.expectations
    out: list[Any] = []
    for col in register.columns:
        if col.name not in present_columns:
            if col.required:
                out.append(E.ExpectColumnToExist(column=col.name))
            continue
        if not col.nullable:
            out.append(E.ExpectColumnValuesToNotBeNull(column=col.name))
        if col.codelist:
            values = codelists.get(col.codelist)
            if values is None and col.codelist in CODELISTS:
                values = sorted(CODELISTS[col.codelist], key=str)
            if values is not None:
                out.append(E.ExpectColumnValuesToBeInSet(column=col.name, value_set=list(values)))
        # DATE ranges are checked in DuckDB (kommunebench.raw.date_range_outcomes): GX's
        # between-expectation runs Python over every value, 5x slower at national scale.
    if len(register.key) == 1 and register.key[0] in present_columns:
        out.append(E.ExpectColumnValuesToBeUnique(column=register.key[0]))
    elif all(k in present_columns for k in register.key):
        out.append(E.ExpectCompoundColumnsToBeUnique(column_list=list(register.key)))
    return out


def run_expectations(df: pd.DataFrame, expectations: list[Any], *, file: str, suite_name: str) -> list[RuleOutcome]:
    """Validate ``df`` with GX (ephemeral context) and turn the results into outcomes."""
    gx = _gx()
    df = df.copy()
    for col in df.columns:
        # columns come typed from DuckDB, so the first value tells whether an object column holds dates
        if df[col].dtype == object:
            present = df[col].dropna()
            if len(present) and isinstance(present.iloc[0], dt.date):
                df[col] = pd.to_datetime(df[col])

    ctx = _gx_context()
    try:
        source = ctx.data_sources.get("pandas")
    except Exception:
        source = ctx.data_sources.add_pandas("pandas")
    name = f"frame_{uuid.uuid4().hex[:12]}"
    asset = source.add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe("batch").get_batch(
        batch_parameters={"dataframe": df}
    )
    suite = gx.ExpectationSuite(name=suite_name)
    for e in expectations:
        suite.add_expectation(e)
    fmt: dict[str, Any] = {"result_format": "COMPLETE", "partial_unexpected_count": 10}
    if "_source_row" in df.columns:
        fmt["unexpected_index_column_names"] = ["_source_row"]
    res = batch.validate(suite, result_format=fmt)
    outcomes = []
    for r in res.results:
        cfg = r.expectation_config
        column = cfg.kwargs.get("column") or ",".join(cfg.kwargs.get("column_list") or []) or None
        result = r.result or {}
        raised = bool(r.exception_info and r.exception_info.get("raised_exception"))
        examples: list[dict[str, Any]] = []
        if column not in IDENTIFIER_COLUMNS and not (column or "").startswith("PNR"):
            for item in result.get("partial_unexpected_counts") or []:
                examples.append({"value": _plain(item["value"]), "count": int(item["count"])})
        detail = ""
        if raised:
            detail = str(r.exception_info.get("exception_message") or "")[:300]
        failing = result.get("unexpected_count")
        if failing is None:
            failing = len(df) if not r.success else 0
        row_ids = [
            int(item["_source_row"])
            for item in (result.get("unexpected_index_list") or [])
            if isinstance(item, dict) and item.get("_source_row") is not None
        ]
        outcomes.append(
            RuleOutcome(
                rule=cfg.type,
                column=column,
                passed=bool(r.success),
                failing_rows=int(failing),
                checked_rows=int(result.get("element_count") or len(df)),
                file=file,
                examples=examples,
                detail=detail,
                row_ids=row_ids,
            )
        )
    return outcomes


def _plain(v: Any) -> Any:
    if v is None:
        return None
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v
