"""Statistical disclosure control: the one module every published table passes through.

Rules (Statistics Denmark's research-access rule: no published cell may describe fewer
than ``threshold`` = 5 persons):

1. Guard. A frame with a person identifier column (``PNR``, ``CPR``, ``person_id``, ...)
   or a register column that only exists on person rows (``FOED_DAG``, ``FOEDDT``) is
   person-level and is refused (``PersonLevelDataError``), never "fixed".
2. Primary suppression. A count cell ``c`` with ``0 < c < threshold`` is suppressed
   (``protect_zeros=True`` also suppresses zeros). The implied complement of a count
   within its base (``persons - events_observed``: the persons without the event) is a
   cell too: when it is small, the part is suppressed.
3. Row statistics. When the count of persons a row describes (its *base*, e.g.
   ``persons``) is below the threshold, every statistic of that row is suppressed: a
   mean, a rate or an interval computed on fewer than 5 persons is itself a small cell.
4. Dependent cells. A cell from which a suppressed count can be recomputed is suppressed
   with it (``share = n / total``; ``oe_ratio = events_observed / events_expected`` and
   its Poisson interval; funnel limits, which are a function of ``persons``).
5. Secondary (complementary) suppression. Count columns that add up to a known total
   within a group (``target_group`` x ``measure`` for the league table, ``target_group``
   x ``week`` for the chronogram) never have exactly one suppressed cell in a group:
   a single one could be recovered as total minus the rest. The smallest positive
   unsuppressed cell of the group is suppressed as well.
6. Linked tables. A count published in several tables (a unit's ``persons`` is the same
   for both success measures) is suppressed in all of them when it is in one.

Steps 3-6 are repeated until nothing changes. Suppressed cells become missing (NA) and
the column ``suppressed`` lists, per row, the suppressed columns (``;``-separated).

``protect`` applies the rules; ``disclosure_violations`` re-checks a finished frame and
returns one row per broken rule (for an asset check); ``assert_aggregate`` raises on any
violation and is called by every writer immediately before it writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DEFAULT_THRESHOLD = 5
SUPPRESSED_COLUMN = "suppressed"

#: Column names that identify a person: a frame holding one is person-level.
PERSON_ID_PATTERN = re.compile(
    r"^(pnr|cpr|cpr_?nr|person_?id|personnummer|pnr_\w+|\w+_pnr|foed_?dag|foeddt)$", re.IGNORECASE
)
#: Column names that hold a count of persons when no table spec says otherwise.
PERSON_COUNT_PATTERN = re.compile(
    r"^(n|n_persons|persons|personer|antal|antal_personer|count|size|members_n|n_events|events_observed)$",
    re.IGNORECASE,
)


class DisclosureError(ValueError):
    """An output would publish a cell that describes fewer than ``threshold`` persons."""


class PersonLevelDataError(DisclosureError):
    """A frame holds person-level rows (a person identifier column)."""


@dataclass(frozen=True)
class TableSpec:
    """How the disclosure rules apply to one kind of table.

    - ``count_columns``: counts of persons (or of persons' events); primary suppression.
    - ``base_column``: the count of persons a row's statistics describe.
    - ``row_statistics``: columns suppressed when the row's base count is below threshold.
    - ``dependents``: count column -> columns from which it could be recomputed.
    - ``complements``: (part, whole) pairs: ``whole - part`` is an implied count cell.
    - ``total_groups``: columns that define sub-tables whose count columns sum to a known
      total (secondary suppression); ``None`` when the table has no total.
    - ``linked_keys``: count column -> columns identifying the same cell in linked tables.
    - ``group_label``: optional sort key to choose the complementary cell (smallest count).
    """

    name: str
    count_columns: tuple[str, ...] = ()
    base_column: str | None = None
    row_statistics: tuple[str, ...] = ()
    dependents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    complements: tuple[tuple[str, str], ...] = ()
    total_groups: tuple[str, ...] | None = None
    linked_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


LEAGUE_TABLE = TableSpec(
    name="league_table",
    count_columns=("persons", "events_observed"),
    base_column="persons",
    row_statistics=(
        "events_observed", "events_expected", "oe_ratio", "oe_lower", "oe_upper",
        "rmst_observed", "rmst_expected", "indicator_pct", "indicator_lower", "indicator_upper",
        "weeks_difference", "weeks_lower", "weeks_upper", "indicator_eb", "eb_lower", "eb_upper",
        "rank", "rank_lower", "rank_upper", "p_top_fifth", "fifth", "funnel_lower", "funnel_upper",
        "share_weeks_passive", "share_wage_subsidy_or_internship",
    ),
    dependents={
        "persons": ("funnel_lower", "funnel_upper"),
        "events_observed": ("oe_ratio", "oe_lower", "oe_upper"),
    },
    complements=(("events_observed", "persons"),),
    total_groups=("target_group", "measure"),
    linked_keys={"persons": ("target_group", "kom")},
)

CHRONOGRAM = TableSpec(
    name="chronogram",
    count_columns=("n",),
    base_column=None,
    dependents={"n": ("share",)},
    total_groups=("target_group", "week"),
)

CLUSTER_TYPOLOGY = TableSpec(
    name="cluster_typology",
    count_columns=("size",),
    base_column="size",
    row_statistics=("share", "medoid", "silhouette"),
    dependents={"size": ("share",)},
    total_groups=("target_group",),
)

COEFFICIENTS = TableSpec(name="coefficients")

DATA_QUALITY = TableSpec(name="data_quality", count_columns=("failing_rows",))

#: Tables with no person counts (settings, checksums, column descriptions).
NO_COUNTS = TableSpec(name="no_counts")


def _as_frame(frame: object, what: str) -> pd.DataFrame:
    if isinstance(frame, pd.DataFrame):
        return frame
    to_pandas = getattr(frame, "to_pandas", None)
    if callable(to_pandas):  # polars
        return to_pandas()
    raise TypeError(f"{what}: expected a pandas or polars DataFrame, got {type(frame).__name__}")


def person_id_columns(frame: pd.DataFrame) -> list[str]:
    """Columns whose name says they identify a person (see ``PERSON_ID_PATTERN``)."""
    return [str(c) for c in frame.columns if PERSON_ID_PATTERN.match(str(c))]


def _guard_person_level(frame: pd.DataFrame, name: str) -> None:
    ids = person_id_columns(frame)
    if ids:
        raise PersonLevelDataError(
            f"table {name!r}: column(s) {ids} identify persons: person-level rows never leave the "
            "warehouse; aggregate before publishing"
        )


def _count_columns(frame: pd.DataFrame, spec: TableSpec | None) -> list[str]:
    """The spec's count columns plus any column named like a person count."""
    named = [c for c in (spec.count_columns if spec else ()) if c in frame.columns]
    pattern = [str(c) for c in frame.columns if PERSON_COUNT_PATTERN.match(str(c)) and c not in named]
    return named + pattern


def _small(values: pd.Series, threshold: int, protect_zeros: bool) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce")
    low = 0 if protect_zeros else 1
    return v.notna() & (v >= low) & (v < threshold)


def _suppressed_sets(frame: pd.DataFrame) -> list[set[str]]:
    if SUPPRESSED_COLUMN not in frame.columns:
        return [set() for _ in range(len(frame))]
    return [
        {s for s in str(v).split(";") if s} if isinstance(v, str) else set()
        for v in frame[SUPPRESSED_COLUMN].tolist()
    ]


def protect(
    frame: object,
    spec: TableSpec | None = None,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    protect_zeros: bool = False,
) -> pd.DataFrame:
    """Apply rules 1-6 (module docstring) and return a new frame safe to publish.

    The input is not modified. Count columns keep a nullable integer type; suppressed
    cells are NA and listed in the ``suppressed`` column. Applying ``protect`` to its own
    output changes nothing (idempotent). Columns named like person counts
    (``PERSON_COUNT_PATTERN``) are counts whatever the spec says; a count that is missing
    in the input is treated (and listed) as suppressed.
    """
    name = spec.name if spec else "unnamed table"
    df = _as_frame(frame, name).copy().reset_index(drop=True)
    _guard_person_level(df, name)
    if threshold < 1:
        raise ValueError(f"threshold must be >= 1, got {threshold}")
    counts = _count_columns(df, spec)
    sup = _suppressed_sets(df)

    # Cells that are already missing in a count column count as suppressed (idempotence).
    mask: dict[str, np.ndarray] = {}
    for c in df.columns:
        if c == SUPPRESSED_COLUMN:
            continue
        mask[c] = np.array([c in s for s in sup], dtype=bool)
    for c in counts:  # a count that is not there cannot be subtracted from a total
        mask[c] |= df[c].isna().to_numpy()

    # Rule 2: primary suppression of small counts and of parts with a small complement.
    for c in counts:
        mask[c] |= _small(df[c], threshold, protect_zeros).to_numpy()
    if spec is not None:
        for part, whole in spec.complements:
            if part in df.columns and whole in df.columns:
                rest = pd.to_numeric(df[whole], errors="coerce") - pd.to_numeric(df[part], errors="coerce")
                mask[part] |= _small(rest, threshold, protect_zeros).to_numpy()

    # Rule 3: a row whose base count is small publishes no statistics.
    if spec is not None and spec.base_column and spec.base_column in df.columns:
        base_small = _small(df[spec.base_column], threshold, protect_zeros).to_numpy()
        for c in spec.row_statistics:
            if c in mask:
                mask[c] |= base_small

    changed = True
    while changed:
        before = sum(int(m.sum()) for m in mask.values())
        if spec is not None:
            # Rule 6: linked cells share their suppression.
            for c, keys in spec.linked_keys.items():
                if c in df.columns and all(k in df.columns for k in keys):
                    key = df[list(keys)].astype(str).agg("|".join, axis=1)
                    hit = set(key[mask[c]])
                    mask[c] |= key.isin(hit).to_numpy()
            # Rule 5: never exactly one suppressed cell in a group with a total.
            if spec.total_groups is not None and all(g in df.columns for g in spec.total_groups):
                groups = df.groupby(list(spec.total_groups), sort=False, dropna=False).indices
                for c in counts:
                    values = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
                    for idx in groups.values():
                        idx = np.asarray(idx)
                        if mask[c][idx].sum() != 1 or len(idx) < 2:
                            continue
                        free = idx[~mask[c][idx] & ~np.isnan(values[idx])]
                        if free.size == 0:
                            continue
                        positive = free[values[free] > 0]
                        pool = positive if positive.size else free
                        mask[c][pool[np.argmin(values[pool])]] = True
            # Rule 4: dependents go with their count.
            for c, deps in spec.dependents.items():
                if c in mask:
                    for d in deps:
                        if d in mask:
                            mask[d] |= mask[c]
        changed = sum(int(m.sum()) for m in mask.values()) != before

    for c, m in mask.items():
        if not m.any():
            continue
        if c in counts or pd.api.types.is_integer_dtype(df[c]):
            df[c] = pd.array(pd.to_numeric(df[c], errors="coerce"), dtype="Float64").round().astype("Int64")
        elif pd.api.types.is_bool_dtype(df[c]):
            df[c] = df[c].astype("boolean")
        elif not (pd.api.types.is_float_dtype(df[c]) or pd.api.types.is_object_dtype(df[c])):
            df[c] = df[c].astype(object)
        df.loc[m, c] = pd.NA
        for i in np.flatnonzero(m):
            sup[i].add(c)
    for c in counts:  # a clean integer type for every count column
        if not pd.api.types.is_integer_dtype(df[c]):
            num = pd.to_numeric(df[c], errors="coerce")
            if num.dropna().eq(num.dropna().round()).all():
                df[c] = pd.array(num, dtype="Float64").round().astype("Int64")
    order = [c for c in df.columns if c != SUPPRESSED_COLUMN]
    df[SUPPRESSED_COLUMN] = [";".join(sorted(s, key=order.index)) for s in sup]
    return df


@dataclass(frozen=True)
class Violation:
    table: str
    rule: str
    column: str
    cells: int
    detail: str


def disclosure_violations(
    frame: object,
    spec: TableSpec | None = None,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    protect_zeros: bool = False,
) -> pd.DataFrame:
    """Check a frame about to be published; one row per broken rule, empty when it passes.

    Columns: ``table, rule, column, cells, detail``. Rules: ``person_identifier``,
    ``small_cell``, ``small_complement``, ``row_statistic_on_small_base``,
    ``dependent_of_suppressed``, ``single_suppression_in_total``. ``detail`` names the
    group (never a person). Missing count cells are read as suppressed.
    """
    name = spec.name if spec else "unnamed table"
    df = _as_frame(frame, name).reset_index(drop=True)
    out: list[Violation] = []
    ids = person_id_columns(df)
    for c in ids:
        out.append(Violation(name, "person_identifier", c, len(df), "column identifies persons"))
    counts = _count_columns(df, spec)
    for c in counts:
        small = _small(df[c], threshold, protect_zeros)
        if small.any():
            out.append(Violation(name, "small_cell", c, int(small.sum()),
                                 f"{int(small.sum())} cell(s) with 0 < {c} < {threshold} published"))
    if spec is not None:
        for part, whole in spec.complements:
            if part in df.columns and whole in df.columns:
                rest = pd.to_numeric(df[whole], errors="coerce") - pd.to_numeric(df[part], errors="coerce")
                small = _small(rest, threshold, protect_zeros)
                if small.any():
                    out.append(Violation(name, "small_complement", part, int(small.sum()),
                                         f"{whole} - {part} < {threshold} in {int(small.sum())} row(s)"))
        if spec.base_column and spec.base_column in df.columns:
            base = pd.to_numeric(df[spec.base_column], errors="coerce")
            base_small = (base < threshold) & base.notna()
            for c in spec.row_statistics:
                if c in df.columns:
                    bad = base_small & df[c].notna()
                    if bad.any():
                        out.append(Violation(name, "row_statistic_on_small_base", c, int(bad.sum()),
                                             f"{c} published for {int(bad.sum())} row(s) with "
                                             f"{spec.base_column} < {threshold}"))
        for c, deps in spec.dependents.items():
            if c not in df.columns:
                continue
            gone = df[c].isna()
            for d in deps:
                if d in df.columns:
                    bad = gone & df[d].notna()
                    if bad.any():
                        out.append(Violation(name, "dependent_of_suppressed", d, int(bad.sum()),
                                             f"{d} published where {c} is suppressed: {c} can be "
                                             "recomputed from it"))
        if spec.total_groups is not None and all(g in df.columns for g in spec.total_groups):
            for c in counts:
                g = df.groupby(list(spec.total_groups), dropna=False)[c]
                missing = g.apply(lambda s: int(s.isna().sum()))
                size = g.size()
                bad = missing[(missing == 1) & (size > 1)]
                if len(bad):
                    keys = ", ".join(str(k) for k in list(bad.index)[:5])
                    out.append(Violation(name, "single_suppression_in_total", c, len(bad),
                                         f"one suppressed {c} in group(s) {keys}: recoverable from "
                                         "the total"))
        for c, keys in spec.linked_keys.items():
            if c in df.columns and all(k in df.columns for k in keys):
                key = df[list(keys)].astype(str).agg("|".join, axis=1)
                state = df[c].isna().groupby(key).nunique()
                bad = state[state > 1]
                if len(bad):
                    out.append(Violation(name, "linked_cell_published", c, len(bad),
                                         f"{c} suppressed in one linked table but not in another for "
                                         f"{list(bad.index)[:5]}"))
    return pd.DataFrame([v.__dict__ for v in out], columns=["table", "rule", "column", "cells", "detail"])


def assert_aggregate(
    frame: object,
    spec: TableSpec | None = None,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    protect_zeros: bool = False,
) -> None:
    """Raise ``PersonLevelDataError`` / ``DisclosureError`` if the frame may not be published."""
    name = spec.name if spec else "unnamed table"
    df = _as_frame(frame, name)
    _guard_person_level(df, name)
    v = disclosure_violations(df, spec, threshold=threshold, protect_zeros=protect_zeros)
    if len(v):
        lines = "; ".join(f"{r.rule} in column {r.column!r}: {r.detail}" for r in v.itertuples())
        raise DisclosureError(f"table {name!r} breaks the disclosure rules (threshold {threshold}): {lines}")


def violations_report(
    tables: Mapping[str, tuple[object, TableSpec | None]] | Iterable[tuple[str, object, TableSpec | None]],
    *,
    threshold: int = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """``disclosure_violations`` over several named tables, concatenated (for one asset check).

    ``tables`` maps a name to ``(frame, spec)``; the name replaces the spec's name in the
    report. Empty frame = every table passes.
    """
    items = tables.items() if isinstance(tables, Mapping) else ((n, (f, s)) for n, f, s in tables)
    parts = []
    for tname, (frame, spec) in items:
        v = disclosure_violations(frame, spec, threshold=threshold)
        v["table"] = tname
        parts.append(v)
    if not parts:
        return pd.DataFrame(columns=["table", "rule", "column", "cells", "detail"])
    return pd.concat(parts, ignore_index=True)
