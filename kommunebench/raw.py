"""Loading delivered register files into DuckDB: survey, stage, type, validate, publish.

The loaders are driven by the register contract (:mod:`kommunebench.contract`): the
SELECT lists that type the columns are generated from it (identifiers come only from
the contract or from column names that matched a contract pattern, and are quoted),
and values are never formatted into SQL text.

Flow for one delivery (the Dagster asset wraps it in stage -> validate -> publish):

1. :func:`survey` walks the landing folder: every register's files with size and
   sha256; files that break a file rule (misnamed, empty, a symlink out of the landing
   folder, two files for one year) as blocking outcomes; entries that are not part of a
   delivery (other folders, hidden files, other formats, yearly files outside the
   register years) listed as ignored, for a warning;
2. :func:`stage_register` reads the files (Parquet and CSV by DuckDB, SAS by pyreadstat
   in chunks) into the stage table ``raw."_stage_<register>"`` with every value typed by
   the contract (``TRY_CAST``), adding ``_source_file``, ``_source_row`` and, for
   yearly registers, ``AAR`` from the file name. DuckDB reads each file through a
   symlink with a plain name in a private folder, so a file name is never read as a
   glob pattern (``OPHG*.parquet`` is that one file). Values that do not cast are
   counted per file and column; an unreadable, truncated or empty file, a text column
   delivered as a number (``PNR``) and a wide column naming no real period (``Y_1554``)
   are refused with file, column and rule. Parquet files with the same columns are read
   by one statement (DuckDB reads the list of files in parallel);
3. :func:`validate_register` runs the GX suite per file and the all-row SQL rules;
   :func:`cross_register_outcomes` the rules between registers (birth before the permit
   and before the first week on record; dates not after the delivery's register year);
4. :func:`publish_registers` replaces every changed ``raw.<register>`` of the delivery
   by renaming its validated stage table, all in ONE transaction (no copy), and writes
   the load audit: a delivery is published whole or not at all. On failure
   :func:`quarantine` keeps the rejected rows themselves, with the rule each broke, and
   nothing in ``raw`` changes.

Stage tables live in the ``raw`` schema because DuckDB renames a table only within its
schema; they are named with a leading underscore and never read downstream. A stage
table found at the start of a load was left by a run that died: :func:`clear_leftover_stages`
drops it (the caller says so in the run log).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from kommunebench import refdata
from kommunebench.contract import (
    FORMATS,
    REGISTERS,
    Register,
    last_day_of_register_year,
    week_column_year,
)
from kommunebench.faults import failpoint
from kommunebench.validation import RuleOutcome, file_outcome, register_expectations, run_expectations

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Rejected rows kept in ``quarantine.<register>`` per file, rule and column; the total
#: count of rows that broke the rule is always in ``quarantine.rejections``.
QUARANTINE_CAP = 100_000

#: Entries of the landing folder that belong there besides the register folders.
LANDING_EXTRAS = frozenset({"SYNTHETIC.json"})


def q(identifier: str) -> str:
    """Quote an identifier that came from the contract or matched a contract pattern."""
    if not _IDENT.match(identifier):
        raise ValueError(f"refusing unsafe identifier {identifier!r}")
    return f'"{identifier}"'


def stage_table(register: Register) -> str:
    """The register's stage table (in the target schema, so publishing is a rename)."""
    return f"raw.{q('_stage_' + register.name.lower())}"


def published_table(register: Register) -> str:
    return f"raw.{q(register.name.lower())}"


class DeliveryError(Exception):
    """A file cannot be read as the contract says; the message names file and rule."""

    def __init__(self, message: str, outcomes: list[RuleOutcome] | None = None):
        super().__init__(message)
        self.outcomes = outcomes or []


@dataclass(frozen=True)
class LandingFile:
    register: str
    path: Path
    fmt: str
    year: int | None
    size: int
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class Survey:
    """What the landing folder holds: per register its files and the file rules they broke,
    and every entry that is not part of the delivery (listed in a warning, never read)."""

    files: dict[str, list[LandingFile]] = field(default_factory=dict)
    outcomes: dict[str, list[RuleOutcome]] = field(default_factory=dict)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (path relative to landing, why)

    def blocking(self, register: str) -> list[RuleOutcome]:
        return [o for o in self.outcomes.get(register, []) if not o.passed and o.blocking]

    def ignored_message(self) -> str:
        return "ignored (not part of the delivery): " + "; ".join(f"{p} ({why})" for p, why in self.ignored)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve(strict=True).relative_to(root)
        return True
    except (ValueError, OSError):
        return False


def survey(landing: Path, registers: list[Register] | None = None, register_years: list[int] | None = None,
           *, checksums: bool = True) -> Survey:
    """Walk the landing folder (see the module docstring). ``register_years``: yearly files
    for other years are ignored, with a named warning; None accepts every year."""
    landing = Path(landing)
    root = landing.resolve()
    registers = registers if registers is not None else list(REGISTERS.values())
    out = Survey()
    names = {r.name for r in REGISTERS.values()}
    for entry in sorted(landing.iterdir()) if landing.is_dir() else []:
        if entry.name in names or entry.name in LANDING_EXTRAS:
            continue
        kind = "folder" if entry.is_dir() else "file"
        out.ignored.append((entry.name, f"a {kind} that is not a register folder"))
    years = set(register_years) if register_years is not None else None
    for reg in registers:
        outcomes: list[RuleOutcome] = []
        files: list[LandingFile] = []
        folder = landing / reg.name
        out.files[reg.name], out.outcomes[reg.name] = files, outcomes
        if not folder.is_dir():
            outcomes.append(file_outcome("register_folder_exists", f"{reg.name}/", f"{folder} is missing",
                                         register=reg.name))
            continue
        if not _inside(folder, root):
            outcomes.append(file_outcome("files_inside_landing_folder", f"{reg.name}/",
                                         f"{folder} is a link to {folder.resolve()}, outside {root}", register=reg.name))
            continue
        for path in sorted(folder.iterdir()):
            rel = f"{reg.name}/{path.name}"
            if path.name.startswith("."):
                out.ignored.append((rel, "a hidden file"))
                continue
            if path.is_symlink() and not _inside(path, root):
                target = os.readlink(path)
                outcomes.append(file_outcome("files_inside_landing_folder", path.name,
                                             f"a link to {target}, outside the landing folder {root}", register=reg.name))
                continue
            if path.is_dir():
                out.ignored.append((rel, "a folder inside a register folder"))
                continue
            fmt = path.suffix.lower().lstrip(".")
            if fmt not in FORMATS:
                out.ignored.append((rel, f"not a delivery format ({', '.join(FORMATS)})"))
                continue
            m = re.match(reg.file_regex, path.stem)
            if not m:
                outcomes.append(file_outcome("file_name_matches_contract", path.name,
                                             f"the stem must match {reg.file_regex}", register=reg.name))
                continue
            year = int(m.group("year")) if reg.per_year else None
            if year is not None and years is not None and year not in years:
                out.ignored.append((rel, f"year {year} is outside the register years "
                                         f"{min(years)}-{max(years)}"))
                continue
            if not path.exists():
                outcomes.append(file_outcome("file_readable", path.name, "a link to a file that does not exist",
                                             register=reg.name))
                continue
            size = path.stat().st_size
            if size == 0:
                outcomes.append(file_outcome("file_not_empty", path.name, "the file has 0 bytes", register=reg.name))
                continue
            files.append(LandingFile(reg.name, path, fmt, year, size, refdata.file_sha256(path) if checksums else ""))
        if not files and not outcomes:
            outcomes.append(file_outcome("register_has_files", f"{reg.name}/",
                                         f"no {reg.name} file in {folder}", register=reg.name))
        if reg.per_year:
            by_year: dict[int, list[str]] = {}
            for f in files:
                by_year.setdefault(f.year, []).append(f.name)
            for y, fs in sorted(by_year.items()):
                if len(fs) > 1:
                    outcomes.append(file_outcome("one_file_per_year", ", ".join(fs),
                                                 f"{len(fs)} files for year {y}", register=reg.name))
    return out


def discover(landing: Path, register: Register, register_years: list[int] | None = None) -> list[LandingFile]:
    """The register's files; raises :class:`DeliveryError` naming file and rule if any file rule breaks."""
    s = survey(landing, [register], register_years)
    bad = s.blocking(register.name)
    if bad:
        raise DeliveryError("\n".join(o.message() for o in bad), bad)
    return s.files[register.name]


# ------------------------------------------------------------------ reading files


@contextmanager
def literal_paths(files: list[LandingFile]) -> Iterator[dict[str, str]]:
    """Plain-named symlinks to the files, in a private folder: DuckDB expands glob
    characters (``*?[]{}``) in the paths it is given, so a file is read through a name
    that has none, and never as a pattern. Yields {file name: path to give DuckDB}."""
    tmp = Path(tempfile.mkdtemp(prefix="kommunebench-read-"))
    try:
        aliases = {}
        for i, lf in enumerate(files):
            alias = tmp / f"f{i:05d}.{lf.fmt}"
            alias.symlink_to(lf.path.resolve())
            aliases[lf.name] = str(alias)
        yield aliases
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _unreadable(lf: LandingFile, what: str, e: Exception) -> DeliveryError:
    detail = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
    o = file_outcome("file_readable", lf.name, f"cannot be read as {what}: {detail}", register=lf.register)
    return DeliveryError(o.message(), [o])


def _no_rows(lf: LandingFile) -> DeliveryError:
    o = file_outcome("file_has_rows", lf.name, "the file holds no rows", register=lf.register)
    return DeliveryError(o.message(), [o])


def _csv_reader(conn: duckdb.DuckDBPyConnection, path: Path | str, lf: LandingFile | None = None) -> tuple[str, str]:
    """A temporary table over a CSV file, all columns as text, numbered in file order
    (``_kb_row``); UTF-8 first, then ISO-8859-1."""
    last: Exception | None = None
    for encoding in ("utf-8", "latin-1"):
        try:
            conn.execute(
                "CREATE OR REPLACE TEMP TABLE _src_csv AS SELECT *, row_number() OVER () AS _kb_row FROM "
                "read_csv($p, all_varchar = true, header = true, encoding = $e, parallel = false)",
                {"p": str(path), "e": encoding},
            )
            return "_src_csv", encoding
        except duckdb.Error as e:
            last = e
            continue
    if lf is not None:
        raise _unreadable(lf, "CSV in UTF-8 or ISO-8859-1", last)
    raise DeliveryError(f"{path}: cannot be read as CSV in UTF-8 or ISO-8859-1 ({last})")


def _sas_to_view(conn: duckdb.DuckDBPyConnection, lf: LandingFile, path: str, chunksize: int = 100_000) -> str:
    import pyreadstat

    first = True
    offset = 0
    try:
        reader = pyreadstat.read_file_in_chunks(
            pyreadstat.read_sas7bdat, path, chunksize=chunksize, disable_datetime_conversion=False
        )
        for chunk, _meta in reader:
            chunk = _normalise_sas_frame(chunk)
            chunk["_kb_row"] = range(offset + 1, offset + len(chunk) + 1)
            offset += len(chunk)
            conn.register("_chunk", chunk)
            if first:
                conn.execute("CREATE OR REPLACE TEMP TABLE _sas AS SELECT * FROM _chunk")
                first = False
            else:
                conn.execute("INSERT INTO _sas BY NAME SELECT * FROM _chunk")
            conn.unregister("_chunk")
    except Exception as e:  # pyreadstat raises its own error types
        if isinstance(e, DeliveryError):
            raise
        raise _unreadable(lf, "SAS7BDAT", e) from e
    if first:
        raise _no_rows(lf)
    return "_sas"


def _normalise_sas_frame(df: pd.DataFrame) -> pd.DataFrame:
    # Empty SAS character values arrive as ""; keep them as missing like the other formats.
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].where(df[col] != "", None)
    return df


def open_source(conn: duckdb.DuckDBPyConnection, lf: LandingFile, path: str | None = None) -> tuple[str, str | None]:
    """Create a view/table over the file; returns its name and the CSV encoding used.
    ``path`` is where DuckDB reads it (see :func:`literal_paths`). A file that cannot be
    read, or holds no rows, raises :class:`DeliveryError` naming it and the rule."""
    path = path or str(lf.path)
    if lf.fmt == "parquet":
        try:
            n = conn.execute("SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata($p)", {"p": path}).fetchall()[0][0]
            # a view cannot take a bound parameter: the relation API builds it (the path is an
            # alias without glob characters, see literal_paths)
            conn.read_parquet(path).create_view("_src_parquet", replace=True)
        except duckdb.Error as e:
            raise _unreadable(lf, "Parquet", e) from e
        if not n:
            raise _no_rows(lf)
        return "_src_parquet", None
    if lf.fmt == "csv":
        view, enc = _csv_reader(conn, path, lf)
        if not conn.execute(f"SELECT count(*) FROM {q(view)}").fetchall()[0][0]:
            raise _no_rows(lf)
        return view, enc
    return _sas_to_view(conn, lf, path), None


def source_columns(conn: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    rows = conn.execute(f"DESCRIBE SELECT * FROM {q(view)}").fetchall()
    return {r[0]: r[1] for r in rows if r[0] != "_kb_row"}


# ------------------------------------------------------------------ typing


def target_columns(register: Register, present: list[str]) -> dict[str, str]:
    """Contract columns present in a file, in contract order, with their DuckDB types."""
    out: dict[str, str] = {}
    for c in register.columns:
        if c.name in present:
            out[c.name] = c.dtype
    for name in present:
        fam = register.wide_family(name)
        if fam is not None:
            out[name] = fam.dtype
    return out


def _cast_expr(name: str, target: str, source_type: str) -> str:
    col = q(name)
    st = source_type.upper()
    if target == "DATE":
        if st in ("DATE",):
            return col
        if st.startswith("TIMESTAMP"):
            return f"CAST({col} AS DATE)"
        if st in ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "SMALLINT", "DECIMAL") or st.startswith("DECIMAL"):
            # SAS dates without a date format: days since 1960-01-01.
            return f"TRY_CAST(DATE '1960-01-01' + to_days(TRY_CAST({col} AS INTEGER)) AS DATE)"
        return f"TRY_CAST(TRIM(CAST({col} AS VARCHAR)) AS DATE)"
    if target == "VARCHAR":
        if st in ("DOUBLE", "FLOAT") or st.startswith("DECIMAL"):
            # numeric codes delivered as numbers (e.g. SAS): 130.0 -> '130'
            return f"CAST(CAST({col} AS BIGINT) AS VARCHAR)"
        return f"NULLIF(TRIM(CAST({col} AS VARCHAR)), '')"
    if st == target:
        return col  # already the contract type: nothing to cast, nothing can fail
    if target in ("SMALLINT", "INTEGER", "BIGINT"):
        if st == "VARCHAR":
            return f"TRY_CAST(NULLIF(TRIM({col}), '') AS {target})"
        return f"TRY_CAST({col} AS {target})"
    if target == "DOUBLE":
        if st == "VARCHAR":
            return f"TRY_CAST(REPLACE(NULLIF(TRIM({col}), ''), ',', '.') AS DOUBLE)"
        return f"TRY_CAST({col} AS DOUBLE)"
    raise ValueError(f"no cast rule for {target}")


@dataclass
class StageReport:
    register: str
    files: list[LandingFile]
    rows: dict[str, int]
    encodings: dict[str, str | None]
    outcomes: list[RuleOutcome]  # file, header and type rules found while staging
    columns: dict[str, str]

    @property
    def staged(self) -> bool:
        """The stage table holds every file (no file or header rule stopped the staging)."""
        return not any(not o.passed and o.blocking for o in self.outcomes
                       if not o.rule.startswith("values_cast_to_"))


def _header_outcomes(register: Register, lf: LandingFile, src: dict[str, str], n_rows) -> list[RuleOutcome]:
    """Header rules of one file: required columns present (upper case), text columns
    delivered as text, wide columns naming real periods, unknown columns (warning)."""
    out: list[RuleOutcome] = []
    upper = {c.upper(): c for c in src}
    lower = [c.name for c in register.columns if c.required and c.name not in src and c.name in upper]
    if lower:
        out.append(file_outcome("column_names_upper_case", lf.name, f"column(s) {[upper[c] for c in lower]} must be "
                                f"{lower} (register names are upper case)", register=register.name, column=",".join(lower)))
    for c in register.columns:
        if c.required and c.name not in src and c.name not in upper:
            n = n_rows()
            out.append(RuleOutcome("expect_column_to_exist", c.name, False, failing_rows=n, checked_rows=n,
                                   file=lf.name, detail="required by the contract", register=register.name))
        if c.length is not None and c.name in src and src[c.name].upper() != "VARCHAR":
            out.append(file_outcome(
                "column_delivered_as_text", lf.name,
                f"{c.name} is {src[c.name]} in this file; a number loses leading zeros, so it is refused, not cast "
                f"(deliver it as text of {c.length} characters)", register=register.name, column=c.name,
                examples=[{"value": src[c.name], "count": n_rows()}]))
    for fam in register.wide:
        bad = [(c, fam.problem(c)) for c in src if fam.match(c) and fam.problem(c)]
        if bad:
            out.append(file_outcome(
                "wide_columns_name_real_periods", lf.name, f"{len(bad)} column(s) name no real period: {bad[0][1]}",
                register=register.name, column=fam.name, examples=[{"value": c, "count": 1} for c, _ in bad[:20]]))
    extra = [c for c in src if c not in register.column_names and register.wide_family(c) is None]
    for c in extra:
        out.append(RuleOutcome("column_in_contract", c, False, blocking=False, file=lf.name,
                               detail="not in the register contract; ignored", register=register.name))
    return out


def stage_register(
    conn: duckdb.DuckDBPyConnection, register: Register, files: list[LandingFile], *, cap: int = QUARANTINE_CAP
) -> StageReport:
    """Read every file of the register into its stage table (replaced). File and header
    rules that break are returned as outcomes (and the stage table is then not built)."""
    with literal_paths(files) as paths:
        return _stage(conn, register, files, paths, cap)


def _stage(conn, register: Register, files: list[LandingFile], paths: dict[str, str], cap: int) -> StageReport:
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    stage = stage_table(register)
    conn.execute(f"DROP TABLE IF EXISTS {stage}")
    outcomes: list[RuleOutcome] = []
    rows: dict[str, int] = {}
    encodings: dict[str, str | None] = {}
    per_file_cols: dict[str, dict[str, str]] = {}
    # Pass 1: can each file be read, and its header, so the stage table has the union of columns.
    union: dict[str, str] = {}
    for lf in files:
        try:
            view, enc = open_source(conn, lf, paths[lf.name])
        except DeliveryError as e:
            outcomes += e.outcomes
            continue
        encodings[lf.name] = enc
        src = source_columns(conn, view)
        outcomes += _header_outcomes(register, lf, src,
                                     lambda: int(conn.execute(f"SELECT count(*) FROM {q(view)}").fetchall()[0][0]))
        cols = target_columns(register, list(src))
        per_file_cols[lf.name] = {c: src[c] for c in cols}
        union.update(cols)
    report = StageReport(register.name, files, rows, encodings, outcomes, union)
    if not report.staged:
        return report

    ordered = {c.name: c.dtype for c in register.columns if c.name in union}
    ordered.update({k: v for k, v in union.items() if k not in ordered})
    report.columns = ordered
    col_defs = [f"{q(c)} {t}" for c, t in ordered.items()]
    year_from_name = register.per_year and "AAR" not in ordered
    if year_from_name:
        col_defs.insert(0, '"AAR" SMALLINT')
    col_defs += ['"_source_file" VARCHAR', '"_source_row" BIGINT']
    conn.execute(f"CREATE TABLE {stage} ({', '.join(col_defs)})")
    conn.execute("CREATE OR REPLACE TEMP TABLE _kb_cast_failures (file VARCHAR, row BIGINT, col VARCHAR, value VARCHAR)")

    # Pass 2: typed inserts, counting values that do not cast. Parquet files with the same
    # columns and types go in one statement over the list of files (read in parallel);
    # CSV and SAS files, already opened as temporary tables, one by one.
    groups: dict[tuple, list[LandingFile]] = {}
    for lf in files:
        key = ("parquet", tuple(per_file_cols[lf.name].items())) if lf.fmt == "parquet" else ("one", lf.name)
        groups.setdefault(key, []).append(lf)
    for group in groups.values():
        try:
            outcomes += _insert_group(conn, register, stage, group, paths, per_file_cols, ordered, year_from_name, cap)
        except duckdb.Error as e:
            if isinstance(e, duckdb.OutOfMemoryException):
                raise
            # a file that opened but fails while its rows are read (a damaged page): say which
            damaged = []
            for lf in group:
                try:
                    if lf.fmt == "parquet":
                        conn.execute("SELECT count(*) FROM read_parquet($p)", {"p": paths[lf.name]}).fetchall()
                except duckdb.Error as e2:
                    damaged.append(_unreadable(lf, lf.fmt.upper(), e2).outcomes[0])
            outcomes += damaged or [_unreadable(lf, lf.fmt.upper(), e).outcomes[0] for lf in group]
            conn.execute(f"DROP TABLE IF EXISTS {stage}")
            return report
    for name, n in conn.execute(f"SELECT _source_file, count(*) FROM {stage} GROUP BY ALL").fetchall():
        rows[name] = int(n)
    for lf in files:
        rows.setdefault(lf.name, 0)
    return report


def _insert_group(conn, register, stage, group, paths, per_file_cols, ordered, year_from_name, cap) -> list[RuleOutcome]:
    src_types = per_file_cols[group[0].name]
    exprs = [f"{_cast_expr(c, ordered[c], src_types[c])} AS {q(c)}" for c in src_types]
    names = [lf.name for lf in group]
    params: dict[str, object] = {"names": names}
    if group[0].fmt == "parquet":
        params["paths"] = [paths[lf.name] for lf in group]
        source = "read_parquet($paths, filename = '_kb_path', file_row_number = true)"
        file_expr = "list_extract($names, list_position($paths, _kb_path))"
        row_expr = "file_row_number + 1"
    else:
        source, _ = open_source(conn, group[0], paths[group[0].name])
        source = q(source)
        file_expr = "$names[1]"
        row_expr = "_kb_row"
    if year_from_name:
        params["years"] = [lf.year for lf in group]
        exprs.insert(0, f"CAST(list_extract($years, list_position($names, {file_expr})) AS SMALLINT) AS \"AAR\"")
    exprs += [f"{file_expr} AS \"_source_file\"", f"{row_expr} AS \"_source_row\""]
    conn.execute(f"INSERT INTO {stage} BY NAME SELECT {', '.join(exprs)} FROM {source}", params)
    scan_params = {k: v for k, v in params.items() if k != "years"}
    return _type_outcomes(conn, register, source, file_expr, row_expr, scan_params, src_types, ordered, cap)


def _type_outcomes(conn, register: Register, source: str, file_expr: str, row_expr: str, params: dict,
                   src_types: dict[str, str], target: dict[str, str], cap: int) -> list[RuleOutcome]:
    """Values present in the files that did not cast to the contract type, per file and column;
    the failing rows (up to ``cap`` per file and column) are kept in ``_kb_cast_failures``."""
    checks = []
    for c, st in src_types.items():
        expr = _cast_expr(c, target[c], st)
        if expr == q(c) or not expr.startswith("TRY_CAST"):
            continue
        checks.append((c, f"NULLIF(TRIM(CAST({q(c)} AS VARCHAR)), '') IS NOT NULL AND {expr} IS NULL"))
    if not checks:
        return []
    out: list[RuleOutcome] = []
    # Batch the counts (wide registers have hundreds of columns); one scan per batch for the group.
    for i in range(0, len(checks), 200):
        part = checks[i : i + 200]
        counts = ", ".join(f"count(*) FILTER (WHERE {cond})" for _, cond in part)
        for file, total, *vals in conn.execute(
            f"SELECT {file_expr} AS _f, count(*), {counts} FROM {source} GROUP BY _f", params
        ).fetchall():
            for (c, cond), n in zip(part, vals):
                if not n:
                    continue
                conn.execute(
                    f"INSERT INTO _kb_cast_failures SELECT * FROM (SELECT {file_expr} AS _f, {row_expr}, $col, "
                    f"CAST({q(c)} AS VARCHAR) FROM {source} WHERE {cond}) WHERE _f = $file LIMIT $cap",
                    {**params, "col": c, "file": file, "cap": cap},
                )
                examples = conn.execute(
                    "SELECT value, count(*) FROM _kb_cast_failures WHERE file = $f AND col = $c GROUP BY 1 "
                    "ORDER BY 2 DESC, 1 LIMIT 5", {"f": file, "c": c},
                ).fetchall()
                ident = c in _IDENTIFIERS
                out.append(RuleOutcome(
                    f"values_cast_to_{target[c].lower()}", c, False, failing_rows=int(n), checked_rows=int(total),
                    file=file, register=register.name,
                    examples=[] if ident else [{"value": v, "count": int(k)} for v, k in examples],
                    rows_sql="SELECT file, row, value FROM _kb_cast_failures WHERE file = $qf AND col = $qc",
                    rows_params={"qf": file, "qc": c},
                ))
    return out


_IDENTIFIERS = frozenset({"PNR"})


# ------------------------------------------------------------------ validation


def reference_codelists() -> dict[str, list]:
    return {
        "kom": refdata.municipalities()["kommunekode"].to_list(),
        "countries": refdata.countries()["OPR_LAND"].to_list(),
        "ophg_grundlag": refdata.ophg_grundlag()["GRUNDLAG"].to_list(),
        "dream_codebook": [c for c in refdata.codebook()["code"].to_list() if c],
    }


def validate_register(
    conn: duckdb.DuckDBPyConnection,
    register: Register,
    report: StageReport,
    *,
    unknown_codes: str = "fail",
    last_year: int | None = None,
) -> list[RuleOutcome]:
    """GX suite per file on the fixed columns + all-row SQL rules on the stage.

    ``last_year``: the delivery's last register year, the bound of dates in registers
    without a year of their own (OPHG); DREAM's own last weekly year when None."""
    stage = stage_table(register)
    codelists = reference_codelists()
    fixed = [c for c in register.column_names if c in report.columns]
    outcomes: list[RuleOutcome] = []
    for lf in report.files:
        cols = ", ".join(q(c) for c in fixed + ["_source_row"])
        df = conn.execute(f"SELECT {cols} FROM {stage} WHERE _source_file = $f", {"f": lf.name}).df()
        exps = register_expectations(register, fixed, codelists)
        # keys of yearly registers are unique within a year, i.e. within a file
        for o in run_expectations(df, exps, file=lf.name, suite_name=f"{register.name}.{lf.name}"):
            o.register = register.name
            if not o.passed and o.row_ids:
                col = (o.column or "").split(",")[0]
                value = f"CAST({q(col)} AS VARCHAR)" if col in report.columns else "NULL"
                o.rows_sql = (f"SELECT _source_file, _source_row, {value} FROM {stage} WHERE _source_file = $qf "
                              "AND _source_row IN (SELECT unnest($qids))")
                o.rows_params = {"qf": lf.name, "qids": o.row_ids}
            outcomes.append(o)
    outcomes += length_outcomes(conn, register, report)
    if last_year is None:
        last_year = delivery_last_year(report.columns) if register.name == "DREAM" else None
    outcomes += date_range_outcomes(conn, register, report, last_year)
    if not register.per_year and len(report.files) > 1:
        outcomes.append(_key_unique_across_files(conn, register))
    for fam in register.wide:
        cols = [c for c in report.columns if fam.match(c)]
        if not cols:
            continue
        if fam.codelist == "dream_codebook":
            outcomes.append(_codes_in_codebook(conn, stage, cols, codelists["dream_codebook"], unknown_codes))
        elif fam.codelist == "kom":
            outcomes.append(_wide_in_set(conn, stage, cols, codelists["kom"], "expect_column_values_to_be_in_set", fam.name))
        elif fam.codelist in ("match", "visit"):
            from kommunebench.contract import CODELISTS

            outcomes.append(
                _wide_in_set(conn, stage, cols, sorted(CODELISTS[fam.codelist]), "expect_column_values_to_be_in_set", fam.name)
            )
        elif fam.name.startswith("GRAD"):
            outcomes.append(_wide_between(conn, stage, cols, 0.0, 3.0, fam.name))
    for o in outcomes:
        o.register = o.register or register.name
    return outcomes


def delivery_last_year(dream_columns) -> int | None:
    """The last register year a DREAM extract covers: the year of its last weekly column."""
    years = [week_column_year(int(c[2:4])) for c in dream_columns
             if c.startswith("Y_") and len(c) == 6 and c[2:].isdigit()]
    return max(years) if years else None


def length_outcomes(conn, register: Register, report: StageReport) -> list[RuleOutcome]:
    """Text columns of a fixed length (``PNR``: 10 characters), per file; examples are the
    lengths found, never the values."""
    stage = stage_table(register)
    out = []
    for c in register.columns:
        if c.length is None or c.name not in report.columns:
            continue
        cond = f"{q(c.name)} IS NOT NULL AND length({q(c.name)}) <> $len"
        rows = conn.execute(
            f"SELECT _source_file, count(*), count(*) FILTER (WHERE {cond}) FROM {stage} GROUP BY 1 ORDER BY 1",
            {"len": c.length},
        ).fetchall()
        for file, n, bad in rows:
            examples = []
            if bad:
                examples = [{"value": f"length {k}", "count": int(m)} for k, m in conn.execute(
                    f"SELECT length({q(c.name)}), count(*) FROM {stage} WHERE _source_file = $f AND {cond} "
                    "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5", {"f": file, "len": c.length}).fetchall()]
            out.append(RuleOutcome(
                "expect_column_value_lengths_to_equal", c.name, bad == 0, failing_rows=int(bad), checked_rows=int(n),
                file=file, register=register.name, examples=examples,
                detail=f"every value has {c.length} characters (leading zeros kept)" if bad else "",
                rows_sql=f"SELECT _source_file, _source_row, CAST(length({q(c.name)}) AS VARCHAR) FROM {stage} "
                         f"WHERE _source_file = $qf AND {cond.replace('$len', '$qlen')}",
                rows_params={"qf": file, "qlen": c.length},
            ))
    return out


def date_range_outcomes(conn, register: Register, report: StageReport, last_year: int | None = None) -> list[RuleOutcome]:
    """Every DATE column per file (one SQL pass per register): not before 1900
    (``expect_column_values_to_be_between``), and not after the file's register year
    (``date_not_after_register_year``: the file's year for yearly registers, else
    ``last_year``; in DREAM's ISO-week calendar) or, for columns whose events may follow
    the last register year, not after today."""
    from kommunebench.validation import DATE_MAX, DATE_MIN

    stage = stage_table(register)
    dates = [c for c in register.columns if c.dtype == "DATE" and c.name in report.columns]
    if not dates:
        return []
    year_of_file = {lf.name: lf.year for lf in report.files}
    today = dt.date.today()
    counts = ", ".join(
        f"count(*) FILTER (WHERE {q(c.name)} < $lo), max({q(c.name)})" for c in dates
    )
    rows = conn.execute(
        f"SELECT _source_file, count(*) AS n, {counts} FROM {stage} GROUP BY _source_file ORDER BY _source_file",
        {"lo": DATE_MIN.date()},
    ).fetchall()
    out = []
    for file, n, *vals in rows:
        year = year_of_file.get(file) or last_year
        for i, c in enumerate(dates):
            too_old, latest = vals[2 * i], vals[2 * i + 1]
            cond_old = f"{q(c.name)} < $qlo"
            out.append(_date_outcome(conn, stage, register, file, c.name, "expect_column_values_to_be_between",
                                     too_old, n, cond_old, {"qlo": DATE_MIN.date()},
                                     f"not before {DATE_MIN.date()}"))
            rule = "date_not_after_register_year"
            if c.not_after == "today":
                hi, why, rule = today, f"not after today ({today})", "date_not_in_the_future"
            elif c.not_after == "plausible":
                hi, why = DATE_MAX.date(), f"not after {DATE_MAX.date()} (a planned date; no register-year bound)"
                rule = "expect_column_values_to_be_between"
            elif year is not None:
                hi = last_day_of_register_year(year)
                why = (f"not after {hi}, the end of register year {year} (ISO weeks)"
                       + ("" if year_of_file.get(file) else ", the last year of the delivery"))
            else:
                continue
            late = 0
            if latest is not None and latest > hi:
                late = conn.execute(f"SELECT count(*) FROM {stage} WHERE _source_file = $f AND {q(c.name)} > $hi",
                                    {"f": file, "hi": hi}).fetchall()[0][0]
            out.append(_date_outcome(conn, stage, register, file, c.name, rule, late, n,
                                     f"{q(c.name)} > $qhi", {"qhi": hi}, why))
    return out


def _date_outcome(conn, stage, register, file, col, rule, bad, n, cond, params, why) -> RuleOutcome:
    examples = []
    if bad:  # examples are years, never whole dates
        examples = [{"value": int(y), "count": int(k)} for y, k in conn.execute(
            f"SELECT year({q(col)}), count(*) FROM {stage} WHERE _source_file = $qf AND {cond} GROUP BY 1 "
            "ORDER BY 2 DESC, 1 LIMIT 5", {"qf": file, **params}).fetchall()]
    return RuleOutcome(
        rule, col, bad == 0, failing_rows=int(bad), checked_rows=int(n), file=file, register=register.name,
        examples=examples, detail=why,
        rows_sql=f"SELECT _source_file, _source_row, CAST({q(col)} AS VARCHAR) FROM {stage} WHERE _source_file = $qf AND {cond}",
        rows_params={"qf": file, **params},
    )


def _key_unique_across_files(conn, register: Register) -> RuleOutcome:
    stage = stage_table(register)
    keys = ", ".join(q(k) for k in register.key)
    n, total = conn.execute(
        f"SELECT coalesce(sum(n), 0), (SELECT count(*) FROM {stage}) FROM "
        f"(SELECT count(*) AS n FROM {stage} GROUP BY {keys} HAVING count(*) > 1)"
    ).fetchall()[0]
    return RuleOutcome(
        "expect_compound_columns_to_be_unique_across_files", ",".join(register.key), n == 0,
        failing_rows=int(n), checked_rows=int(total), register=register.name,
        rows_sql=f"SELECT _source_file, _source_row, NULL FROM {stage} QUALIFY count(*) OVER (PARTITION BY {keys}) > 1",
    )


def _unpivot(stage: str, cols: list[str], extra: str = "") -> str:
    return (
        f"(UNPIVOT (SELECT _source_file{extra}, {', '.join(q(c) for c in cols)} FROM {stage}) "
        f"ON {', '.join(q(c) for c in cols)} INTO NAME col VALUE v)"
    )


def _codes_in_codebook(conn, stage: str, cols: list[str], codes: list[str], mode: str) -> RuleOutcome:
    conn.execute("CREATE OR REPLACE TEMP TABLE _codes AS SELECT unnest($c::VARCHAR[]) AS code", {"c": codes})
    rows = conn.execute(
        f"SELECT v, count(*) AS n, min(_source_file) FROM {_unpivot(stage, cols)} "
        "WHERE v IS NOT NULL AND v NOT IN (SELECT code FROM _codes) GROUP BY v ORDER BY n DESC"
    ).fetchall()
    total = conn.execute(f"SELECT count(*) * {len(cols)} FROM {stage}").fetchall()[0][0]
    failing = sum(r[1] for r in rows)
    return RuleOutcome(
        "expect_weekly_codes_in_codebook", "Y_yyww", not rows, failing_rows=int(failing), checked_rows=int(total),
        blocking=(mode == "fail"),
        file=rows[0][2] if rows else None,
        examples=[{"value": r[0], "count": int(r[1])} for r in rows[:20]],
        detail=("unknown codes must be added to kommunebench/reference/dream_codebook.csv" if rows else ""),
        rows_sql=(f"SELECT _source_file, _source_row, string_agg(col || '=' || v, ' ' ORDER BY col) FROM "
                  f"{_unpivot(stage, cols, ', _source_row')} WHERE v IS NOT NULL AND v NOT IN (SELECT code FROM _codes) "
                  "GROUP BY ALL") if rows else None,
    )


def _wide_in_set(conn, stage: str, cols: list[str], values: list, rule: str, family: str) -> RuleOutcome:
    rows = conn.execute(
        f"SELECT v, count(*) AS n, min(_source_file) FROM {_unpivot(stage, cols)} "
        "WHERE v IS NOT NULL AND NOT list_contains($vals, v) GROUP BY v ORDER BY n DESC",
        {"vals": values},
    ).fetchall()
    total = conn.execute(f"SELECT count(*) * {len(cols)} FROM {stage}").fetchall()[0][0]
    return RuleOutcome(
        rule, family, not rows, failing_rows=int(sum(r[1] for r in rows)), checked_rows=int(total),
        file=rows[0][2] if rows else None,
        examples=[{"value": r[0], "count": int(r[1])} for r in rows[:20]],
        rows_sql=(f"SELECT _source_file, _source_row, string_agg(col || '=' || v, ' ' ORDER BY col) FROM "
                  f"{_unpivot(stage, cols, ', _source_row')} WHERE v IS NOT NULL AND NOT list_contains($qvals, v) "
                  "GROUP BY ALL") if rows else None,
        rows_params={"qvals": values} if rows else {},
    )


def _wide_between(conn, stage: str, cols: list[str], lo: float, hi: float, family: str) -> RuleOutcome:
    n, f = conn.execute(
        f"SELECT count(*), min(_source_file) FROM {_unpivot(stage, cols)} WHERE v < $lo OR v > $hi",
        {"lo": lo, "hi": hi},
    ).fetchall()[0]
    total = conn.execute(f"SELECT count(*) * {len(cols)} FROM {stage}").fetchall()[0][0]
    return RuleOutcome(
        "expect_column_values_to_be_between", family, n == 0, failing_rows=int(n), checked_rows=int(total),
        file=f if n else None, detail=f"allowed range [{lo}, {hi}]",
        rows_sql=(f"SELECT _source_file, _source_row, string_agg(col || '=' || v, ' ' ORDER BY col) FROM "
                  f"{_unpivot(stage, cols, ', _source_row')} WHERE v < $qlo OR v > $qhi GROUP BY ALL") if n else None,
        rows_params={"qlo": lo, "qhi": hi} if n else {},
    )


# ------------------------------------------------------------------ rules between registers


def cross_register_outcomes(conn, tables: dict[str, str], files: dict[str, list[LandingFile]]) -> list[RuleOutcome]:
    """Rules that read two registers of the delivery, on the tables about to be published
    (the stage of a changed register, the published table of an unchanged one):

    * ``permit_not_before_birth`` (OPHG.TILLADELSESDATO): a permit is not granted before
      the person's birth date in DREAM (``FOEDDT``) or any BEF year (``FOED_DAG``);
    * ``birth_before_first_week_on_record`` (DREAM.FOEDDT): no weekly code is recorded in
      a week that ended before the person was born.
    """
    out: list[RuleOutcome] = []
    dream, bef, ophg = tables.get("DREAM"), tables.get("BEF"), tables.get("OPHG")
    if ophg and (dream or bef):
        births = []
        if dream:
            births.append(f"SELECT PNR, FOEDDT AS birth FROM {dream} WHERE FOEDDT IS NOT NULL")
        if bef:
            births.append(f"SELECT DISTINCT PNR, FOED_DAG AS birth FROM {bef} WHERE FOED_DAG IS NOT NULL")
        cond = (f"EXISTS (SELECT 1 FROM ({' UNION ALL '.join(births)}) b WHERE b.PNR = o.PNR "
                "AND b.birth > o.TILLADELSESDATO)")
        per_file = conn.execute(
            f"SELECT _source_file, count(*), count(*) FILTER (WHERE {cond}) FROM {ophg} o GROUP BY 1 ORDER BY 1"
        ).fetchall()
        for file, n, bad in per_file:
            examples = []
            if bad:
                examples = [{"value": int(y), "count": int(k)} for y, k in conn.execute(
                    f"SELECT year(TILLADELSESDATO), count(*) FROM {ophg} o WHERE _source_file = $f AND {cond} "
                    "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5", {"f": file}).fetchall()]
            out.append(RuleOutcome(
                "permit_not_before_birth", "TILLADELSESDATO", bad == 0, int(bad), int(n), file=file, register="OPHG",
                examples=examples, detail="the birth date in DREAM.FOEDDT or BEF.FOED_DAG is after the permit date"
                if bad else "",
                rows_sql=f"SELECT _source_file, _source_row, CAST(TILLADELSESDATO AS VARCHAR) FROM {ophg} o "
                         f"WHERE _source_file = $qf AND {cond}", rows_params={"qf": file},
            ))
    if dream:
        cols = [r[0] for r in conn.execute(f"DESCRIBE {dream}").fetchall()]
        weeks = []
        for c in cols:
            if c.startswith("Y_") and len(c) == 6 and c[2:].isdigit():
                y, w = week_column_year(int(c[2:4])), int(c[4:6])
                try:
                    weeks.append((c, dt.date.fromisocalendar(y, w, 7)))
                except ValueError:
                    continue
        if weeks:
            first_sunday = min(d for _, d in weeks)
            conn.execute("CREATE OR REPLACE TEMP TABLE _kb_week_end AS SELECT unnest($c) AS col, unnest($d) AS week_end",
                         {"c": [c for c, _ in weeks], "d": [d for _, d in weeks]})
            # only persons born after the first week ended can break the rule: unpivot just those
            late = (f"(UNPIVOT (SELECT _source_file, _source_row, FOEDDT, {', '.join(q(c) for c, _ in weeks)} FROM {dream} "
                    f"WHERE FOEDDT > $first) ON {', '.join(q(c) for c, _ in weeks)} INTO NAME col VALUE v)")
            bad_rows = (f"SELECT u._source_file, u._source_row, min(u.col) AS first_col FROM {late} u "
                        "JOIN _kb_week_end e USING (col) WHERE u.v IS NOT NULL AND e.week_end < u.FOEDDT GROUP BY 1, 2")
            counts = dict(conn.execute(f"SELECT _source_file, count(*) FROM ({bad_rows}) GROUP BY 1",
                                       {"first": first_sunday}).fetchall())
            for file, n in conn.execute(f"SELECT _source_file, count(*) FROM {dream} GROUP BY 1 ORDER BY 1").fetchall():
                bad = int(counts.get(file, 0))
                out.append(RuleOutcome(
                    "birth_before_first_week_on_record", "FOEDDT", bad == 0, bad, int(n), file=file, register="DREAM",
                    detail="a weekly code is recorded in a week that ended before the birth date" if bad else "",
                    rows_sql=f"SELECT _source_file, _source_row, 'first week on record ' || first_col FROM ({bad_rows}) "
                             "WHERE _source_file = $qf", rows_params={"first": first_sunday, "qf": file},
                ))
    return out


# ------------------------------------------------------------------ a whole delivery


@dataclass
class DeliveryCheck:
    """A delivery surveyed, its changed registers staged and every rule run on it."""

    survey: Survey
    reports: dict[str, StageReport]  # registers staged (their files changed)
    unchanged: set[str]  # registers whose published load has the same files and sha256
    outcomes: dict[str, list[RuleOutcome]]  # per register, including rules between registers
    tables: dict[str, str]  # per register, the table that would be published

    def failed(self) -> list[RuleOutcome]:
        return [o for outs in self.outcomes.values() for o in outs if not o.passed and o.blocking]


def check_delivery(conn, landing: Path, register_years: list[int], *, force_reload: bool = False,
                   unknown_codes: str = "fail", cap: int = QUARANTINE_CAP, log=None) -> DeliveryCheck:
    """Survey the landing folder, stage every register whose files changed, and run the
    file, header, suite, SQL and cross-register rules. Publishes nothing."""
    from kommunebench.validation import failed_blocking

    say = log or (lambda msg: None)
    registers = list(REGISTERS.values())  # DREAM first: its last weekly year bounds OPHG's dates
    s = survey(landing, registers, register_years)
    outcomes: dict[str, list[RuleOutcome]] = {r.name: list(s.outcomes[r.name]) for r in registers}
    for path, why in s.ignored:
        reg = path.split("/")[0]
        if reg in outcomes:
            outcomes[reg].append(RuleOutcome("ignored_entries", None, False, blocking=False, file=path,
                                             detail=f"ignored: {why}", register=reg))
    reports: dict[str, StageReport] = {}
    unchanged: set[str] = set()
    last_year = None
    for reg in registers:
        files = s.files[reg.name]
        target = published_table(reg)
        if s.blocking(reg.name):
            if files:  # the register is refused; read its other files too, so every problem is named at once
                report = stage_register(conn, reg, files, cap=cap)
                outcomes[reg.name] += report.outcomes
                conn.execute(f"DROP TABLE IF EXISTS {stage_table(reg)}")
            continue
        exists = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = $t",
                              {"t": reg.name.lower()}).fetchall()[0][0]
        if not force_reload and exists and last_published(conn, reg.name) == {(f.name, f.sha256) for f in files}:
            unchanged.add(reg.name)
            say(f"{reg.name}: files unchanged since the last load; not re-read")
            if reg.name == "DREAM":
                last_year = delivery_last_year([r[0] for r in conn.execute(f"DESCRIBE {target}").fetchall()])
            continue
        say(f"{reg.name}: staging {len(files)} file(s)")
        report = stage_register(conn, reg, files, cap=cap)
        reports[reg.name] = report
        outcomes[reg.name] += report.outcomes
        if reg.name == "DREAM" and report.staged:
            last_year = delivery_last_year(report.columns)
        if report.staged and not failed_blocking(report.outcomes):
            outcomes[reg.name] += validate_register(
                conn, reg, report, unknown_codes=unknown_codes,
                last_year=last_year if last_year is not None else max(register_years))
    # rules between registers, on what would be published: the stage of a changed register,
    # the published table of an unchanged one
    tables = {}
    for reg in registers:
        if reg.name in reports and reports[reg.name].staged:
            tables[reg.name] = stage_table(reg)
        elif reg.name in unchanged:
            tables[reg.name] = published_table(reg)
    if reports:
        for o in cross_register_outcomes(conn, tables, s.files):
            outcomes[o.register].append(o)
    return DeliveryCheck(s, reports, unchanged, outcomes, tables)


# ------------------------------------------------------------------ publish / quarantine


def ensure_audit(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS raw.load_audit (register VARCHAR, file VARCHAR, format VARCHAR, "
        "encoding VARCHAR, year SMALLINT, size_bytes BIGINT, sha256 VARCHAR, rows BIGINT, "
        "loaded_at TIMESTAMP, run_id VARCHAR, status VARCHAR)"
    )


def last_published(conn: duckdb.DuckDBPyConnection, register: str) -> set[tuple[str, str]]:
    """(file, sha256) of the register's currently published load."""
    ensure_audit(conn)
    rows = conn.execute(
        "SELECT file, sha256 FROM raw.load_audit WHERE register = $r AND status = 'published' AND "
        "run_id = (SELECT arg_max(run_id, loaded_at) FROM raw.load_audit WHERE register = $r AND status = 'published')",
        {"r": register},
    ).fetchall()
    return {(r[0], r[1]) for r in rows}


def clear_leftover_stages(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Drop stage tables (``raw._stage_*``, ``stage.*``) that a run which died left behind;
    returns their names, for the run log. Call only while holding the warehouse (one writer)."""
    rows = conn.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary AND "
        "((schema_name = 'raw' AND starts_with(table_name, '_stage_')) OR schema_name = 'stage') ORDER BY ALL"
    ).fetchall()
    for schema, table in rows:
        conn.execute(f"DROP TABLE IF EXISTS {q(schema)}.{q(table)}")
    return [f"{s}.{t}" for s, t in rows]


def publish_registers(conn, reports: list[tuple[Register, StageReport]], run_id: str) -> dict[str, int]:
    """Replace every ``raw.<register>`` of the delivery with its validated stage (renamed,
    no copy) and write the load audit, in ONE transaction: all registers or none.

    The published tables keep ``_source_file`` and ``_source_row``: every raw row can be
    traced to the delivered file and its row number."""
    ensure_audit(conn)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    conn.execute("BEGIN TRANSACTION")
    try:
        for i, (register, report) in enumerate(reports):
            conn.execute(f"DROP TABLE IF EXISTS {published_table(register)}")
            conn.execute(f"ALTER TABLE {stage_table(register)} RENAME TO {q(register.name.lower())}")
            for lf in report.files:
                conn.execute(
                    "INSERT INTO raw.load_audit VALUES ($reg, $file, $fmt, $enc, $year, $size, $sha, $rows, $at, $run, 'published')",
                    {
                        "reg": register.name, "file": lf.name, "fmt": lf.fmt, "enc": report.encodings.get(lf.name),
                        "year": lf.year, "size": lf.size, "sha": lf.sha256, "rows": report.rows.get(lf.name, 0),
                        "at": now, "run": run_id,
                    },
                )
            if i == 0:
                failpoint("raw_publish")  # tests: killed with one register renamed, the transaction open
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return {r.name: int(conn.execute(f"SELECT count(*) FROM {published_table(r)}").fetchall()[0][0]) for r, _ in reports}


def publish_register(conn, register: Register, report: StageReport, run_id: str) -> int:
    """One register (see :func:`publish_registers`)."""
    return publish_registers(conn, [(register, report)], run_id)[register.name]


def ensure_rejections(conn) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS quarantine")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS quarantine.rejections (run_id VARCHAR, register VARCHAR, file VARCHAR, "
        "rule VARCHAR, column_name VARCHAR, failing_rows BIGINT, quarantined_rows BIGINT, detail VARCHAR, "
        "rejected_at TIMESTAMP)"
    )


def quarantine(conn, register: Register, outcomes: list[RuleOutcome], run_id: str, *,
               source: str | None = None, cap: int = QUARANTINE_CAP) -> int:
    """Keep the rejected rows themselves in ``quarantine.<register>``: every column of the
    row as staged, plus ``_run_id``, ``_rule``, ``_column`` and ``_value`` (the offending
    value as text), up to ``cap`` rows per file, rule and column. One row per broken rule
    and file goes to ``quarantine.rejections`` with the total count of rows that broke it
    (file rules, such as an unreadable file, have no rows). ``quarantine.<register>`` is
    replaced by each rejected delivery of the register; ``rejections`` keeps the history.
    ``source``: the table holding the register's rows (default: its stage table)."""
    source = source or stage_table(register)
    ensure_rejections(conn)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    schema, table = source.split(".", 1)
    exists = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = $s AND table_name = $t",
        {"s": schema, "t": table.strip('"')},
    ).fetchall()[0][0]
    qt = f"quarantine.{q(register.name.lower())}"
    failed = [o for o in outcomes if not o.passed and o.blocking]
    created = False
    total = 0
    for o in failed:
        kept = 0
        if exists and o.rows_sql:
            if not created:
                conn.execute(
                    f"CREATE OR REPLACE TABLE {qt} AS SELECT CAST(NULL AS VARCHAR) AS _run_id, CAST(NULL AS VARCHAR) AS _rule, "
                    f"CAST(NULL AS VARCHAR) AS _column, CAST(NULL AS VARCHAR) AS _value, "
                    f"CAST(NULL AS TIMESTAMP) AS _quarantined_at, s.* FROM {source} s LIMIT 0"
                )
                created = True
            before = conn.execute(f"SELECT count(*) FROM {qt}").fetchall()[0][0]
            conn.execute(
                f"INSERT INTO {qt} SELECT $_kb_run, $_kb_rule, $_kb_col, r._v, $_kb_at, s.* FROM {source} s "
                f"JOIN (SELECT * FROM ({o.rows_sql}) AS r0(_f, _r, _v) LIMIT $_kb_cap) r "
                "ON s._source_file = r._f AND s._source_row = r._r",
                {**o.rows_params, "_kb_run": run_id, "_kb_rule": o.rule, "_kb_col": o.column, "_kb_at": now, "_kb_cap": cap},
            )
            kept = conn.execute(f"SELECT count(*) FROM {qt}").fetchall()[0][0] - before
            total += kept
        conn.execute(
            "INSERT INTO quarantine.rejections VALUES ($run, $reg, $file, $rule, $col, $n, $kept, $detail, $at)",
            {"run": run_id, "reg": register.name, "file": o.file, "rule": o.rule, "col": o.column,
             "n": o.failing_rows, "kept": kept, "detail": o.detail[:500], "at": now},
        )
    return total


def drop_stage(conn, register: Register) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {stage_table(register)}")


def register_by_name(name: str) -> Register:
    try:
        return REGISTERS[name.upper()]
    except KeyError:
        raise KeyError(f"unknown register {name!r}; known: {', '.join(REGISTERS)}") from None
