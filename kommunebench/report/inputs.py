"""The aggregate tables a report is made of, their required columns and labels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from kommunebench.report import disclosure as sdc

TARGET_GROUPS: tuple[str, ...] = ("svage_indvandrere", "flygtninge", "familiesammenfoerte")
MEASURES: tuple[str, ...] = ("success", "partial_success")
GROUP_LABELS: dict[str, str] = {
    "svage_indvandrere": "Weakest immigrants",
    "flygtninge": "Refugees",
    "familiesammenfoerte": "Family-reunified",
}
MEASURE_LABELS: dict[str, str] = {
    "success": "Ordinary job (success)",
    "partial_success": "Private internship or wage subsidy (partial success)",
}
CLASS_LABELS: dict[str, str] = {
    "better": "Better than expected",
    "as_expected": "As expected (within ±5 %)",
    "worse": "Worse than expected",
    "not_distinguishable": "Not distinguishable from expected",
    "too_small": "Too few persons to rank",
}
ACTIVITY_COLUMNS: dict[str, str] = {
    "share_weeks_passive": "Share of weeks on passive support",
    "share_wage_subsidy_or_internship": "Share ever in wage subsidy or company internship",
}

LEAGUE_COLUMNS: tuple[str, ...] = (
    "target_group", "measure", "kom", "unit_name", "members", "persons", "events_observed",
    "events_expected", "oe_ratio", "oe_lower", "oe_upper", "rmst_observed", "rmst_expected",
    "indicator_pct", "indicator_lower", "indicator_upper", "weeks_difference", "weeks_lower",
    "weeks_upper", "indicator_eb", "eb_lower", "eb_upper", "rank", "rank_lower", "rank_upper",
    "p_top_fifth", "fifth", "class", "too_small", "funnel_lower", "funnel_upper",
)
CHRONOGRAM_COLUMNS: tuple[str, ...] = ("target_group", "week", "state", "share", "n")
CLUSTER_COLUMNS: tuple[str, ...] = ("target_group", "cluster", "label", "size", "share", "medoid", "silhouette")
COEFFICIENT_COLUMNS: tuple[str, ...] = (
    "target_group", "measure", "term", "coef", "se", "hr", "lower", "upper", "p",
)
DATA_QUALITY_COLUMNS: tuple[str, ...] = ("check", "asset", "passed", "failing_rows")
CHECKSUM_COLUMNS: tuple[str, ...] = ("file", "sha256", "rows")

_DQ_RENAMES = {"check_name": "check", "name": "check", "failing": "failing_rows"}
_CHECKSUM_RENAMES = {"file_name": "file", "name": "file", "path": "file"}


@dataclass(frozen=True)
class ReportInputs:
    """Everything a report and the exports are built from (aggregates only).

    ``chronogram.n`` is the number of sequences in ``state`` in ``week`` (the cell count;
    ``share`` = n / sequences observed that week). ``diagnostics`` may be flat or keyed by
    ``"<target_group>/<measure>"``.
    """

    league: pd.DataFrame
    chronogram: pd.DataFrame
    clusters: pd.DataFrame
    coefficients: pd.DataFrame
    diagnostics: Mapping[str, Any]
    data_quality: pd.DataFrame
    settings: Mapping[str, Any]
    code_version: str
    input_checksums: pd.DataFrame
    title: str = "kommunebench: the municipalities' integration effort"
    run_label: str = ""
    threshold: int = sdc.DEFAULT_THRESHOLD
    extra: Mapping[str, Any] = field(default_factory=dict)


def _require(
    frame: pd.DataFrame, columns: tuple[str, ...], what: str, renames: Mapping[str, str] | None = None
) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        to_pandas = getattr(frame, "to_pandas", None)
        if not callable(to_pandas):
            raise TypeError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
        frame = to_pandas()
    renames = renames or {}
    frame = frame.rename(columns={k: v for k, v in renames.items() if k in frame.columns and v not in frame.columns})
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; has {list(frame.columns)}")
    return frame


def validate_inputs(inputs: ReportInputs) -> ReportInputs:
    """Check required columns and code values; return inputs with normalised column names.

    Raises ``ValueError`` naming the table, column and offending values.
    """
    league = _require(inputs.league, LEAGUE_COLUMNS, "league table")
    for col, allowed in (("target_group", TARGET_GROUPS), ("measure", MEASURES), ("class", tuple(CLASS_LABELS))):
        bad = sorted(set(league[col].dropna().astype(str)) - set(allowed))
        if bad:
            raise ValueError(f"league table: column {col!r}: values {bad} not in {list(allowed)}")
    dup = league.duplicated(["target_group", "measure", "kom"])
    if dup.any():
        raise ValueError(
            f"league table: rule 'one row per (target_group, measure, kom)' broken by "
            f"{league.loc[dup, ['target_group', 'measure', 'kom']].head(5).to_dict('records')}"
        )
    chrono = _require(inputs.chronogram, CHRONOGRAM_COLUMNS, "chronogram")
    from kommunebench.states import ALPHABET

    bad_states = sorted(set(chrono["state"].astype(str)) - set(ALPHABET))
    if bad_states:
        raise ValueError(f"chronogram: column 'state': codes {bad_states} not in the alphabet {ALPHABET}")
    clusters = _require(inputs.clusters, CLUSTER_COLUMNS, "cluster typology")
    coefs = _require(inputs.coefficients, COEFFICIENT_COLUMNS, "coefficients")
    dq = _require(inputs.data_quality, DATA_QUALITY_COLUMNS, "data-quality summary", _DQ_RENAMES)
    sums = _require(inputs.input_checksums, CHECKSUM_COLUMNS, "input checksums", _CHECKSUM_RENAMES)
    return replace(
        inputs, league=league, chronogram=chrono, clusters=clusters, coefficients=coefs,
        data_quality=dq, input_checksums=sums,
    )


def protect_inputs(inputs: ReportInputs) -> ReportInputs:
    """Validate, then pass every table through ``disclosure.protect`` with its spec."""
    inputs = validate_inputs(inputs)
    t = inputs.threshold
    return replace(
        inputs,
        league=sdc.protect(inputs.league, sdc.LEAGUE_TABLE, threshold=t),
        chronogram=sdc.protect(inputs.chronogram, sdc.CHRONOGRAM, threshold=t),
        clusters=sdc.protect(inputs.clusters, sdc.CLUSTER_TYPOLOGY, threshold=t),
        coefficients=sdc.protect(inputs.coefficients, sdc.COEFFICIENTS, threshold=t),
        data_quality=sdc.protect(inputs.data_quality, sdc.DATA_QUALITY, threshold=t),
        input_checksums=sdc.protect(inputs.input_checksums, sdc.NO_COUNTS, threshold=t),
    )


def published_tables(inputs: ReportInputs) -> dict[str, tuple[pd.DataFrame, sdc.TableSpec]]:
    """name -> (frame, spec) of every table a report or export publishes."""
    return {
        "league_table": (inputs.league, sdc.LEAGUE_TABLE),
        "chronogram": (inputs.chronogram, sdc.CHRONOGRAM),
        "cluster_typology": (inputs.clusters, sdc.CLUSTER_TYPOLOGY),
        "coefficients": (inputs.coefficients, sdc.COEFFICIENTS),
        "data_quality": (inputs.data_quality, sdc.DATA_QUALITY),
        "input_files": (inputs.input_checksums, sdc.NO_COUNTS),
    }


def assert_publishable(inputs: ReportInputs) -> None:
    """``disclosure.assert_aggregate`` on every published table; raises on the first failure."""
    for _, (frame, spec) in published_tables(inputs).items():
        sdc.assert_aggregate(frame, spec, threshold=inputs.threshold)


def disclosure_report(inputs: ReportInputs, *, protected: bool = True) -> pd.DataFrame:
    """Violations over all published tables (empty = passes), for an asset check.

    With ``protected=True`` the tables are first passed through ``protect_inputs``, so the
    report says whether what would be published passes; ``False`` checks them as given.
    """
    if protected:
        inputs = protect_inputs(inputs)
    return sdc.violations_report(published_tables(inputs), threshold=inputs.threshold)
