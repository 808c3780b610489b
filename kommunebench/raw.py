"""Loading delivered register files into DuckDB: discover, stage, type, validate.

The loaders are driven by the register contract (:mod:`kommunebench.contract`): the
SELECT lists that type the columns are generated from it (identifiers come only from
the contract or from column names that matched a contract pattern, and are quoted),
and values are never formatted into SQL text.

Flow for one register (the Dagster asset wraps it in stage -> validate -> publish):

1. :func:`discover` lists the register's files with size and sha256;
2. :func:`stage_register` reads the files (Parquet and CSV by DuckDB, SAS by
   pyreadstat in chunks) into the stage table ``raw."_stage_<register>"`` with every
   value typed by the contract (``TRY_CAST``), adding ``_source_file``, ``_source_row``
   and, for yearly registers, ``AAR`` from the file name; values that do not cast are
   counted per file and column. Parquet files with the same columns are read by one
   statement (DuckDB reads the list of files in parallel);
3. :func:`validate_register` runs the GX suite per file and the all-row SQL rules;
4. :func:`publish_register` replaces ``raw.<register>`` by renaming the validated
   stage table in one transaction (no copy) and writes the load audit; on failure
   :func:`quarantine` keeps the rejected rows with the rule they broke and
   ``raw.<register>`` is left untouched.

The stage table lives in the ``raw`` schema because DuckDB renames a table only within
its schema; it is named with a leading underscore and never read downstream.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from kommunebench import refdata
from kommunebench.contract import FORMATS, REGISTERS, Register
from kommunebench.validation import RuleOutcome, register_expectations, run_expectations

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def q(identifier: str) -> str:
    """Quote an identifier that came from the contract or matched a contract pattern."""
    if not _IDENT.match(identifier):
        raise ValueError(f"refusing unsafe identifier {identifier!r}")
    return f'"{identifier}"'


def stage_table(register: Register) -> str:
    """The register's stage table (in the target schema, so publishing is a rename)."""
    return f"raw.{q('_stage_' + register.name.lower())}"


class DeliveryError(Exception):
    """A file cannot be read as the contract says; the message names file and rule."""


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


def discover(landing: Path, register: Register) -> list[LandingFile]:
    folder = Path(landing) / register.name
    if not folder.is_dir():
        raise DeliveryError(f"{folder}: register folder missing (rule: landing/{register.name}/ exists)")
    files: list[LandingFile] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        fmt = path.suffix.lower().lstrip(".")
        if fmt not in FORMATS:
            raise DeliveryError(f"{path}: unknown format {fmt!r} (rule: one of {', '.join(FORMATS)})")
        m = re.match(register.file_regex, path.stem)
        if not m:
            raise DeliveryError(
                f"{path}: file name does not match the {register.name} contract "
                f"(rule: stem matches {register.file_regex})"
            )
        year = int(m.group("year")) if register.per_year else None
        files.append(
            LandingFile(register.name, path, fmt, year, path.stat().st_size, refdata.file_sha256(path))
        )
    if not files:
        raise DeliveryError(f"{folder}: no files (rule: at least one {register.name} file)")
    if register.per_year:
        years = [f.year for f in files]
        dups = sorted({y for y in years if years.count(y) > 1})
        if dups:
            raise DeliveryError(f"{folder}: more than one file for year(s) {dups} (rule: one file per year)")
    return files


# ------------------------------------------------------------------ reading files


def _csv_reader(conn: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, str]:
    """A view over a CSV file, all columns as text; UTF-8 first, then ISO-8859-1."""
    for encoding in ("utf-8", "latin-1"):
        try:
            conn.execute(
                "CREATE OR REPLACE TEMP TABLE _src_csv AS SELECT * FROM read_csv($p, all_varchar = true, "
                "header = true, encoding = $e)",
                {"p": str(path), "e": encoding},
            )
            return "_src_csv", encoding
        except (duckdb.InvalidInputException, duckdb.ConversionException, duckdb.BinderException) as e:
            last = e
            continue
    raise DeliveryError(f"{path}: cannot be read as CSV in UTF-8 or ISO-8859-1 ({last})")


def _sas_to_view(conn: duckdb.DuckDBPyConnection, path: Path, chunksize: int = 100_000) -> str:
    import pyreadstat

    try:
        reader = pyreadstat.read_file_in_chunks(
            pyreadstat.read_sas7bdat, str(path), chunksize=chunksize, disable_datetime_conversion=False
        )
        first = True
        for chunk, _meta in reader:
            chunk = _normalise_sas_frame(chunk)
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
        raise DeliveryError(f"{path}: cannot be read as SAS7BDAT ({e})") from e
    if first:
        raise DeliveryError(f"{path}: SAS file has no rows")
    return "_sas"


def _normalise_sas_frame(df: pd.DataFrame) -> pd.DataFrame:
    # Empty SAS character values arrive as ""; keep them as missing like the other formats.
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].where(df[col] != "", None)
    return df


def open_source(conn: duckdb.DuckDBPyConnection, lf: LandingFile) -> tuple[str, str | None]:
    """Create a view/table over the file; returns its name and the CSV encoding used."""
    if lf.fmt == "parquet":
        conn.read_parquet(str(lf.path)).create_view("_src_parquet", replace=True)
        return "_src_parquet", None
    if lf.fmt == "csv":
        return _csv_reader(conn, lf.path)
    return _sas_to_view(conn, lf.path), None


def source_columns(conn: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    rows = conn.execute(f"DESCRIBE SELECT * FROM {q(view)}").fetchall()
    return {r[0]: r[1] for r in rows}


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
    outcomes: list[RuleOutcome]  # header and type rules found while staging
    columns: dict[str, str]


def stage_register(
    conn: duckdb.DuckDBPyConnection, register: Register, files: list[LandingFile]
) -> StageReport:
    """Read every file of the register into its stage table (replaced)."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    stage = stage_table(register)
    outcomes: list[RuleOutcome] = []
    rows: dict[str, int] = {}
    encodings: dict[str, str | None] = {}
    per_file_cols: dict[str, dict[str, str]] = {}
    # Pass 1: headers, so the stage table has the union of columns.
    union: dict[str, str] = {}
    for lf in files:
        view, enc = open_source(conn, lf)
        encodings[lf.name] = enc
        src = source_columns(conn, view)
        upper = {c.upper(): c for c in src}
        missing = [c.name for c in register.columns if c.required and c.name not in src and c.name in upper]
        if missing:
            raise DeliveryError(
                f"{lf.path}: column(s) {missing} in lower/mixed case (rule: register names are upper case)"
            )
        missing = [c.name for c in register.columns if c.required and c.name not in src]
        if missing:
            n_rows = int(conn.execute(f"SELECT count(*) FROM {q(view)}").fetchall()[0][0])
        for m in missing:
            outcomes.append(
                RuleOutcome("expect_column_to_exist", m, False, failing_rows=n_rows, checked_rows=n_rows,
                            file=lf.name, detail="required by the contract")
            )
        extra = [c for c in src if c not in register.column_names and register.wide_family(c) is None]
        for c in extra:
            outcomes.append(
                RuleOutcome(
                    "column_in_contract", c, False, blocking=False, file=lf.name,
                    detail="not in the register contract; ignored",
                )
            )
        cols = target_columns(register, list(src))
        per_file_cols[lf.name] = {c: src[c] for c in cols}
        union.update(cols)
    if any(not o.passed and o.blocking for o in outcomes):
        return StageReport(register.name, files, rows, encodings, outcomes, union)

    ordered = {c.name: c.dtype for c in register.columns if c.name in union}
    ordered.update({k: v for k, v in union.items() if k not in ordered})
    col_defs = [f"{q(c)} {t}" for c, t in ordered.items()]
    year_from_name = register.per_year and "AAR" not in ordered
    if year_from_name:
        col_defs.insert(0, '"AAR" SMALLINT')
    col_defs += ['"_source_file" VARCHAR', '"_source_row" BIGINT']
    conn.execute(f"DROP TABLE IF EXISTS {stage}")
    conn.execute(f"CREATE TABLE {stage} ({', '.join(col_defs)})")

    # Pass 2: typed inserts, counting values that do not cast. Parquet files with the same
    # columns and types go in one statement over the list of files (read in parallel);
    # CSV and SAS files, already opened as temporary tables, one by one.
    groups: dict[tuple, list[LandingFile]] = {}
    for lf in files:
        key = ("parquet", tuple(per_file_cols[lf.name].items())) if lf.fmt == "parquet" else ("one", lf.name)
        groups.setdefault(key, []).append(lf)
    for group in groups.values():
        src_types = per_file_cols[group[0].name]
        exprs = [f"{_cast_expr(c, ordered[c], src_types[c])} AS {q(c)}" for c in src_types]
        names = [lf.name for lf in group]
        params: dict[str, object] = {"names": names}
        if group[0].fmt == "parquet":
            params["paths"] = [str(lf.path) for lf in group]
            source = "read_parquet($paths, filename = '_kb_path', file_row_number = true)"
            file_expr = "list_extract($names, list_position($paths, _kb_path))"
            row_expr = "file_row_number + 1"
        else:
            source, _ = open_source(conn, group[0])
            source = q(source)
            file_expr = "$names[1]"
            row_expr = "row_number() OVER ()"
        if year_from_name:
            params["years"] = [lf.year for lf in group]
            exprs.insert(0, f"CAST(list_extract($years, list_position($names, {file_expr})) AS SMALLINT) AS \"AAR\"")
        exprs += [f"{file_expr} AS \"_source_file\"", f"{row_expr} AS \"_source_row\""]
        conn.execute(f"INSERT INTO {stage} BY NAME SELECT {', '.join(exprs)} FROM {source}", params)
        scan_params = {k: v for k, v in params.items() if k != "years"}
        outcomes += _type_outcomes(conn, source, file_expr, scan_params, group, src_types, ordered)
    for name, n in conn.execute(f"SELECT _source_file, count(*) FROM {stage} GROUP BY ALL").fetchall():
        rows[name] = int(n)
    for lf in files:
        rows.setdefault(lf.name, 0)
    return StageReport(register.name, files, rows, encodings, outcomes, ordered)


def _type_outcomes(conn, source: str, file_expr: str, params: dict, group: list[LandingFile],
                   src_types: dict[str, str], target: dict[str, str]) -> list[RuleOutcome]:
    """Values present in the files that did not cast to the contract type, per file and column."""
    checks = []
    for c, st in src_types.items():
        expr = _cast_expr(c, target[c], st)
        if expr == q(c) or not expr.startswith("TRY_CAST"):
            continue
        checks.append((c, f"count(*) FILTER (WHERE NULLIF(TRIM(CAST({q(c)} AS VARCHAR)), '') IS NOT NULL AND {expr} IS NULL)"))
    if not checks:
        return []
    out: list[RuleOutcome] = []
    # Batch the counts (wide registers have hundreds of columns); one scan per batch for the group.
    for i in range(0, len(checks), 200):
        part = checks[i : i + 200]
        for file, total, *vals in conn.execute(
            f"SELECT {file_expr} AS _f, count(*), {', '.join(e for _, e in part)} FROM {source} GROUP BY _f", params
        ).fetchall():
            for (c, _), n in zip(part, vals):
                if n:
                    out.append(
                        RuleOutcome(
                            f"values_cast_to_{target[c].lower()}", c, False, failing_rows=int(n),
                            checked_rows=int(total), file=file,
                        )
                    )
    return out


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
) -> list[RuleOutcome]:
    """GX suite per file on the fixed columns + all-row SQL rules on the stage."""
    stage = stage_table(register)
    codelists = reference_codelists()
    fixed = [c for c in register.column_names if c in report.columns]
    outcomes: list[RuleOutcome] = []
    for lf in report.files:
        cols = ", ".join(q(c) for c in fixed + ["_source_row"])
        df = conn.execute(f"SELECT {cols} FROM {stage} WHERE _source_file = $f", {"f": lf.name}).df()
        exps = register_expectations(register, fixed, codelists)
        # keys of yearly registers are unique within a year, i.e. within a file
        outcomes += run_expectations(df, exps, file=lf.name, suite_name=f"{register.name}.{lf.name}")
    outcomes += date_range_outcomes(conn, register, report)
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
    return outcomes


def date_range_outcomes(conn, register: Register, report: StageReport) -> list[RuleOutcome]:
    """Every DATE column within the plausible range, per file (one SQL pass per register)."""
    from kommunebench.validation import DATE_MAX, DATE_MIN

    stage = stage_table(register)
    dates = [c.name for c in register.columns if c.dtype == "DATE" and c.name in report.columns]
    if not dates:
        return []
    counts = ", ".join(
        f"count(*) FILTER (WHERE {q(c)} < $lo OR {q(c)} > $hi) AS {q(c)}" for c in dates
    )
    rows = conn.execute(
        f"SELECT _source_file, count(*) AS n, {counts} FROM {stage} GROUP BY _source_file ORDER BY _source_file",
        {"lo": DATE_MIN.date(), "hi": DATE_MAX.date()},
    ).fetchall()
    out = []
    for file, n, *bad in rows:
        for c, k in zip(dates, bad):
            ids: list[int] = []
            if k:  # the rejected rows, for the quarantine table
                ids = [r[0] for r in conn.execute(
                    f"SELECT _source_row FROM {stage} WHERE _source_file = $f AND ({q(c)} < $lo OR {q(c)} > $hi)",
                    {"f": file, "lo": DATE_MIN.date(), "hi": DATE_MAX.date()},
                ).fetchall()]
            out.append(RuleOutcome("expect_column_values_to_be_between", c, k == 0, failing_rows=int(k),
                                   checked_rows=int(n), file=file, row_ids=ids,
                                   detail=f"allowed range {DATE_MIN.date()} .. {DATE_MAX.date()}"))
    return out


def _key_unique_across_files(conn, register: Register) -> RuleOutcome:
    stage = stage_table(register)
    keys = ", ".join(q(k) for k in register.key)
    n, total = conn.execute(
        f"SELECT coalesce(sum(n), 0), (SELECT count(*) FROM {stage}) FROM "
        f"(SELECT count(*) AS n FROM {stage} GROUP BY {keys} HAVING count(*) > 1)"
    ).fetchall()[0]
    return RuleOutcome(
        "expect_compound_columns_to_be_unique_across_files", ",".join(register.key), n == 0,
        failing_rows=int(n), checked_rows=int(total),
    )


def _unpivot(stage: str, cols: list[str]) -> str:
    return (
        f"(UNPIVOT (SELECT _source_file, {', '.join(q(c) for c in cols)} FROM {stage}) "
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
    )


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


def publish_register(conn, register: Register, report: StageReport, run_id: str) -> int:
    """Replace raw.<register> with the stage (renamed) and write the audit, in one transaction.

    The published table keeps ``_source_file`` and ``_source_row``: every raw row can be
    traced to the delivered file and its row number."""
    target = f"raw.{q(register.name.lower())}"
    stage = stage_table(register)
    ensure_audit(conn)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    conn.execute("BEGIN TRANSACTION")
    try:
        # the validated stage becomes the published table: a catalog rename, no copy of the rows
        conn.execute(f"DROP TABLE IF EXISTS {target}")
        conn.execute(f"ALTER TABLE {stage} RENAME TO {q(register.name.lower())}")
        for lf in report.files:
            conn.execute(
                "INSERT INTO raw.load_audit VALUES ($reg, $file, $fmt, $enc, $year, $size, $sha, $rows, $at, $run, 'published')",
                {
                    "reg": register.name, "file": lf.name, "fmt": lf.fmt, "enc": report.encodings.get(lf.name),
                    "year": lf.year, "size": lf.size, "sha": lf.sha256, "rows": report.rows.get(lf.name, 0),
                    "at": now, "run": run_id,
                },
            )
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return int(conn.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0])


def quarantine(conn, register: Register, outcomes: list[RuleOutcome], run_id: str) -> int:
    """Keep rejected rows (with file and rule) in quarantine.<register>; the stage is dropped."""
    stage = stage_table(register)
    conn.execute("CREATE SCHEMA IF NOT EXISTS quarantine")
    qt = f"quarantine.{q(register.name.lower())}"
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = $t",
        {"t": "_stage_" + register.name.lower()},
    ).fetchall()[0][0]
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {qt} (run_id VARCHAR, file VARCHAR, source_row BIGINT, "
        "PNR VARCHAR, rule VARCHAR, column_name VARCHAR, quarantined_at TIMESTAMP)"
    )
    conn.execute(f"DELETE FROM {qt} WHERE run_id = $r", {"r": run_id})
    n = 0
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    has_pnr = "PNR" in register.column_names
    for o in outcomes:
        if o.passed or not o.blocking:
            continue
        if exists and o.row_ids and o.file:
            pnr = "PNR" if has_pnr else "NULL"
            conn.execute(
                f"INSERT INTO {qt} SELECT $run, _source_file, _source_row, {pnr}, $rule, $col, $at FROM {stage} "
                "WHERE _source_file = $file AND list_contains($ids, _source_row)",
                {"run": run_id, "rule": o.rule, "col": o.column, "at": now, "file": o.file, "ids": o.row_ids},
            )
        else:
            conn.execute(
                f"INSERT INTO {qt} VALUES ($run, $file, NULL, NULL, $rule, $col, $at)",
                {"run": run_id, "file": o.file, "rule": o.rule, "col": o.column, "at": now},
            )
        n += 1
    if exists:
        conn.execute(f"DROP TABLE IF EXISTS {stage}")
    return int(conn.execute(f"SELECT count(*) FROM {qt} WHERE run_id = $r", {"r": run_id}).fetchall()[0][0])


def register_by_name(name: str) -> Register:
    try:
        return REGISTERS[name.upper()]
    except KeyError:
        raise KeyError(f"unknown register {name!r}; known: {', '.join(REGISTERS)}") from None
