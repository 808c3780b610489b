"""Check a landing folder against the register contract and the reference tables, without loading it.

``check_extract(path)`` reads every delivered file once (Parquet and CSV through DuckDB
in memory, SAS in chunks through pyreadstat), never writes to the warehouse, and reports:

- the files found, the register each belongs to (or why it belongs to none), their format,
  row counts and years;
- the columns against :mod:`kommunebench.contract`: required columns missing, optional
  columns missing, columns the contract does not know, names in the wrong case;
- every code in a coded column that the reference tables (or the contract's small code
  lists) do not know, with how often it occurs, and how many occurrences fall on codes
  the tables know but mark unverified.

Only column names, codes, years and counts leave this module: no person number, date or
other person-level value is ever put into a report (an unknown value that is not shaped
like a code of its list, e.g. a person number in a shifted CSV column, is counted but
not shown), and counts under :data:`MIN_COUNT` are shown as ``"<5"``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from kommunebench import contract, refdata
from kommunebench.contract import FORMATS, REGISTERS, Register

#: Counts below this are printed as "<5" (disclosure control: cells under 5 persons).
MIN_COUNT = 5

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DATE_COLUMNS_FOR_YEARS = {"OPHG": "TILLADELSESDATO"}
#: Coded columns the contract leaves without a code list but whose codes have a reference table.
_EXTRA_CODELISTS = {("DREAM", "STATSBORGERSKAB"): "countries"}
#: What a code of each list looks like. A value that does not (a person number or a date
#: in a shifted column, say) is never printed: it is counted under :data:`NOT_SHOWN`.
CODE_SHAPES: dict[str, re.Pattern[str]] = {
    "dream_codebook": re.compile(r"^\d{1,3}$"),
    "countries": re.compile(r"^\d{4}$"),
    "kom": re.compile(r"^\d{1,3}$"),
    "ophg_grundlag": re.compile(r"^[0-9A-Za-z_]{1,6}$"),
    "hfaudd_codes": re.compile(r"^\d{1,5}$"),
}
_SMALL_CODE = re.compile(r"^[0-9A-Za-z]{1,2}$")
NOT_SHOWN = "(values not shaped like codes of this list: not shown)"


def shown(n: int) -> str:
    """A count as it may be shown: under :data:`MIN_COUNT` becomes ``"<5"``."""
    return f"<{MIN_COUNT}" if 0 < n < MIN_COUNT else str(n)


def _q(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"refusing unsafe identifier {name!r}")
    return f'"{name}"'


# ------------------------------------------------------------------ report types


@dataclass
class FileFinding:
    register: str
    file: str  # path relative to the landing folder
    fmt: str
    rows: int = 0
    years: list[int] = field(default_factory=list)
    encoding: str | None = None
    missing_required: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)
    unexpected_columns: list[str] = field(default_factory=list)
    wrong_case: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.missing_required and not self.wrong_case


@dataclass
class CodeFinding:
    register: str
    column: str  # a contract column or a wide family name such as ``Y_yyww``
    codelist: str
    code: str
    count: int
    years: list[int] = field(default_factory=list)


@dataclass
class ExtractReport:
    path: str
    files: list[FileFinding] = field(default_factory=list)
    #: files or folders that belong to no register, with the reason
    stray: list[tuple[str, str]] = field(default_factory=list)
    missing_registers: list[str] = field(default_factory=list)
    unknown_codes: list[CodeFinding] = field(default_factory=list)
    #: occurrences of codes the tables know but mark unverified, per register and column
    unverified_codes: list[CodeFinding] = field(default_factory=list)
    #: years seen in dated columns (OPHG permits), register -> year -> count
    date_years: dict[str, dict[int, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            all(f.ok for f in self.files)
            and not self.stray
            and not self.missing_registers
            and not self.unknown_codes
        )

    def problems(self) -> list[str]:
        out = [f"register folder missing: {r}/" for r in self.missing_registers]
        out += [f"{name}: {why}" for name, why in self.stray]
        for f in self.files:
            if f.error:
                out.append(f"{f.file}: {f.error}")
            if f.missing_required:
                out.append(f"{f.file}: required column(s) missing: {', '.join(f.missing_required)}")
            if f.wrong_case:
                out.append(f"{f.file}: column(s) not in upper case: {', '.join(f.wrong_case)}")
        for c in self.unknown_codes:
            out.append(f"{c.register}.{c.column}: {_code_label(c.code)} not in {c.codelist} ({shown(c.count)} values)")
        return out

    def to_dict(self) -> dict:
        """The report with every count already passed through :func:`shown`."""
        def codes(items: list[CodeFinding]) -> list[dict]:
            return [{**asdict(c), "count": shown(c.count)} for c in items]

        return {
            "path": self.path,
            "ok": self.ok,
            "files": [{**asdict(f), "rows": shown(f.rows), "ok": f.ok} for f in self.files],
            "stray": [{"path": p, "reason": r} for p, r in self.stray],
            "missing_registers": self.missing_registers,
            "unknown_codes": codes(self.unknown_codes),
            "unverified_codes": codes(self.unverified_codes),
            "date_years": {r: {str(y): shown(n) for y, n in ys.items()} for r, ys in self.date_years.items()},
            "problems": self.problems(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        lines = [f"check-extract {self.path}", ""]
        lines.append("Files")
        for f in self.files:
            years = _year_span(f.years)
            enc = f", {f.encoding}" if f.encoding else ""
            lines.append(f"  {f.register:13s} {f.file}  ({f.fmt}{enc}; {shown(f.rows)} rows{'; ' + years if years else ''})")
            if f.error:
                lines.append(f"      ERROR {f.error}")
            if f.missing_required:
                lines.append(f"      MISSING required columns: {', '.join(f.missing_required)}")
            if f.wrong_case:
                lines.append(f"      NOT UPPER CASE: {', '.join(f.wrong_case)}")
            if f.missing_optional:
                lines.append(f"      optional columns absent: {', '.join(f.missing_optional)}")
            if f.unexpected_columns:
                more = len(f.unexpected_columns) - 10
                cols = ", ".join(f.unexpected_columns[:10]) + (f" and {more} more" if more > 0 else "")
                lines.append(f"      not in the contract (ignored by the loader): {cols}")
        for path, why in self.stray:
            lines.append(f"  STRAY {path}: {why}")
        for r in self.missing_registers:
            lines.append(f"  MISSING register folder {r}/")
        for reg, ys in self.date_years.items():
            col = _DATE_COLUMNS_FOR_YEARS.get(reg, "")
            lines.append(f"  {reg} {col} years: " + ", ".join(f"{y} ({shown(n)})" for y, n in sorted(ys.items())))
        lines.append("")
        lines.append("Codes the reference tables do not know")
        if not self.unknown_codes:
            lines.append("  none")
        for c in self.unknown_codes:
            years = _year_span(c.years)
            lines.append(
                f"  {c.register}.{c.column} [{c.codelist}] {_code_label(c.code)}: {shown(c.count)}"
                + (f" ({years})" if years else "")
            )
        if self.unverified_codes:
            lines.append("")
            lines.append("Codes the tables know but mark unverified (check their meaning before use)")
            for c in self.unverified_codes:
                lines.append(f"  {c.register}.{c.column} [{c.codelist}] code {c.code!r}: {shown(c.count)}")
        lines.append("")
        lines.append("OK: the extract matches the contract and the reference tables" if self.ok
                     else f"NOT OK: {len(self.problems())} problem(s)")
        return "\n".join(lines)


def _code_label(code: str) -> str:
    return code if code == NOT_SHOWN else f"code {code!r}"


def _year_span(years: list[int]) -> str:
    if not years:
        return ""
    ys = sorted(set(years))
    return f"{ys[0]}" if len(ys) == 1 else f"{ys[0]}-{ys[-1]}"


# ------------------------------------------------------------------ code lists


@dataclass(frozen=True)
class _Codes:
    known: frozenset[str]
    unverified: frozenset[str]


def _norm(value) -> str | None:
    """A code as text: trimmed, numbers without a trailing '.0'; None for missing/blank."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    s = str(value).strip()
    if s == "":
        return None
    if re.fullmatch(r"-?\d+\.0+", s):
        s = s.split(".")[0]
    return s


def _codes(name: str, year: int | None = None) -> _Codes:
    """Known and unverified codes of a code list, as normalised text."""
    if name in contract.CODELISTS:
        return _Codes(frozenset(_norm(v) for v in contract.CODELISTS[name]), frozenset())
    if name == "kom":
        if year is None:
            known = set(refdata.municipalities()["kommunekode"].to_list())
            return _Codes(frozenset(str(k) for k in known), frozenset())
        known = refdata.municipality_codes_for_year(year)
        unverified: set[int] = set()
        if year < refdata.REFORM_2007:
            hist = refdata.municipalities_historic()
            unverified = set(hist.filter(~pl.col("verified"))["old_kom"].to_list()) & known
        return _Codes(frozenset(str(k) for k in known), frozenset(str(k) for k in unverified))
    table, col = {
        "dream_codebook": ("dream_codebook", "code"),
        "countries": ("countries", "OPR_LAND"),
        "ophg_grundlag": ("ophg_grundlag", "GRUNDLAG"),
        "hfaudd_codes": ("hfaudd_codes", "HFAUDD"),
    }[name]
    df = refdata.codebook() if table == "dream_codebook" else refdata.table(table)
    known = {_norm(v) for v in df[col].to_list()} - {None}
    unverified = {_norm(v) for v in df.filter(~pl.col("verified"))[col].to_list()} - {None}
    return _Codes(frozenset(known), frozenset(unverified))


# ------------------------------------------------------------------ reading files


@contextmanager
def _connection() -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(":memory:")
    try:
        yield conn
    finally:
        conn.close()


def _batches(conn: duckdb.DuckDBPyConnection, path: Path, fmt: str, sas_chunksize: int) -> Iterator[tuple[str, str | None]]:
    """Views over the file's rows (one for Parquet and CSV, one per chunk for SAS) and the CSV encoding."""
    if fmt == "parquet":
        conn.read_parquet(str(path)).create_view("_src", replace=True)
        yield "_src", None
        return
    if fmt == "csv":
        last: Exception | None = None
        for encoding in ("utf-8", "latin-1"):
            try:
                rel = conn.read_csv(str(path), all_varchar=True, header=True, encoding=encoding)
                rel.create_view("_src", replace=True)
                conn.execute("SELECT count(*) FROM _src").fetchall()  # decodes every row: fails on a wrong encoding
            except (duckdb.InvalidInputException, duckdb.ConversionException, duckdb.BinderException) as e:
                last = e
                continue
            yield "_src", "iso-8859-1" if encoding == "latin-1" else encoding
            return
        raise ValueError(f"cannot be read as CSV in UTF-8 or ISO-8859-1 ({last})")
    import pyreadstat

    reader = pyreadstat.read_file_in_chunks(pyreadstat.read_sas7bdat, str(path), chunksize=sas_chunksize)
    for chunk, _meta in reader:
        for col in chunk.columns:
            if chunk[col].dtype == object:
                chunk[col] = chunk[col].where(chunk[col] != "", None)
        conn.register("_src", chunk)
        try:
            yield "_src", None
        finally:
            conn.unregister("_src")


def _columns(conn: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    return {r[0]: r[1] for r in conn.execute(f"DESCRIBE SELECT * FROM {_q(view)}").fetchall()}


def _value_counts(conn: duckdb.DuckDBPyConnection, view: str, columns: list[str]) -> list[tuple[str, object, int]]:
    """(column, value, count) over ``columns``, missing values left out."""
    if not columns:
        return []
    cast = ", ".join(f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}" for c in columns)
    on = ", ".join(_q(c) for c in columns)
    sql = (
        f"SELECT name, value, count(*) FROM (UNPIVOT (SELECT {cast} FROM {_q(view)}) "
        f"ON {on} INTO NAME name VALUE value) GROUP BY ALL"
    )
    return conn.execute(sql).fetchall()


def _year_counts(conn: duckdb.DuckDBPyConnection, view: str, column: str, source_type: str) -> list[tuple[int, int]]:
    col = _q(column)
    st = source_type.upper()
    if st == "DATE" or st.startswith("TIMESTAMP"):
        expr = f"year({col})"
    elif st in ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "SMALLINT") or st.startswith("DECIMAL"):
        expr = f"year(DATE '1960-01-01' + to_days(TRY_CAST({col} AS INTEGER)))"  # SAS day numbers
    else:
        expr = f"year(TRY_CAST(TRIM(CAST({col} AS VARCHAR)) AS DATE))"
    rows = conn.execute(f"SELECT {expr} AS y, count(*) FROM {_q(view)} GROUP BY y").fetchall()
    return [(int(y), int(n)) for y, n in rows if y is not None]


# ------------------------------------------------------------------ the check


def _coded_columns(register: Register, present: list[str]) -> dict[str, tuple[str, list[str]]]:
    """label -> (code list, columns): fixed coded columns and wide families."""
    out: dict[str, tuple[str, list[str]]] = {}
    for c in register.columns:
        codelist = c.codelist or _EXTRA_CODELISTS.get((register.name, c.name))
        if codelist and c.name in present:
            out[c.name] = (codelist, [c.name])
    for fam in register.wide:
        if fam.codelist:
            cols = [c for c in present if fam.match(c)]
            if cols:
                out[fam.name] = (fam.codelist, cols)
    return out


def _column_year(register: Register, column: str, file_year: int | None) -> int | None:
    fam = register.wide_family(column)
    if fam is not None:
        m = fam.match(column)
        groups = m.groupdict() if m else {}
        if groups.get("yyyy"):
            return int(groups["yyyy"])
        if groups.get("yy"):
            return contract.week_column_year(int(groups["yy"]))
    return file_year


def _assign(landing: Path, report: ExtractReport) -> list[tuple[Register, Path, str, int | None]]:
    """The files that belong to a register; everything else goes to ``report.stray``."""
    found: list[tuple[Register, Path, str, int | None]] = []
    folders = {p.name: p for p in landing.iterdir() if p.is_dir() and not p.name.startswith(".")}
    for name, reg in REGISTERS.items():
        folder = folders.pop(name, None)
        if folder is None:
            other = [f for f in folders if f.upper() == name]
            if other:
                report.stray.append((other[0] + "/", f"register folder name must be upper case ({name}/)"))
                folders.pop(other[0])
            report.missing_registers.append(name)
            continue
        years: list[int] = []
        for path in sorted(folder.iterdir()):
            rel = str(path.relative_to(landing))
            if path.name.startswith("."):
                continue
            if path.is_dir():
                report.stray.append((rel + "/", "folders inside a register folder are not read"))
                continue
            fmt = path.suffix.lower().lstrip(".")
            if fmt not in FORMATS:
                report.stray.append((rel, f"unknown format {fmt!r} (one of {', '.join(FORMATS)})"))
                continue
            m = re.match(reg.file_regex, path.stem)
            if not m:
                report.stray.append((rel, f"file name does not match the {name} contract ({reg.file_regex})"))
                continue
            year = int(m.group("year")) if reg.per_year else None
            if year is not None:
                years.append(year)
            found.append((reg, path, fmt, year))
        dups = sorted({y for y in years if years.count(y) > 1})
        if dups:
            report.stray.append((f"{name}/", f"more than one file for year(s) {dups}"))
        if not any(r is reg for r, *_ in found):
            report.missing_registers.append(name)
    for rest in sorted(folders):
        report.stray.append((rest + "/", "not a register of the contract"))
    for path in sorted(p for p in landing.iterdir() if p.is_file() and not p.name.startswith(".")):
        if path.name != "SYNTHETIC.json":
            report.stray.append((path.name, "files outside a register folder are not read"))
    return found


def check_extract(landing: Path, *, sas_chunksize: int = 100_000) -> ExtractReport:
    """Check a landing folder (see the module docstring); nothing is loaded or written."""
    landing = Path(landing)
    if not landing.is_dir():
        raise FileNotFoundError(f"{landing}: not a folder")
    report = ExtractReport(path=str(landing))
    unknown: dict[tuple[str, str, str, str], Counter] = {}
    unverified: Counter = Counter()
    codelist_cache: dict[tuple[str, int | None], _Codes] = {}

    def codes_for(name: str, year: int | None) -> _Codes:
        key = (name, year if name == "kom" else None)
        if key not in codelist_cache:
            codelist_cache[key] = _codes(name, key[1])
        return codelist_cache[key]

    for reg, path, fmt, file_year in _assign(landing, report):
        finding = FileFinding(reg.name, str(path.relative_to(landing)), fmt, years=[file_year] if file_year else [])
        report.files.append(finding)
        try:
            with _connection() as conn:
                first = True
                for view, encoding in _batches(conn, path, fmt, sas_chunksize):
                    cols = _columns(conn, view)
                    if first:
                        first = False
                        finding.encoding = encoding
                        _check_header(reg, list(cols), finding)
                        if not reg.per_year:
                            finding.years = sorted({y for c in cols if (y := _column_year(reg, c, None)) is not None})
                    finding.rows += int(conn.execute(f"SELECT count(*) FROM {_q(view)}").fetchall()[0][0])
                    date_col = _DATE_COLUMNS_FOR_YEARS.get(reg.name)
                    if date_col and date_col in cols:
                        ys = report.date_years.setdefault(reg.name, {})
                        for y, n in _year_counts(conn, view, date_col, cols[date_col]):
                            ys[y] = ys.get(y, 0) + n
                    for label, (codelist, columns) in _coded_columns(reg, list(cols)).items():
                        for column, value, n in _value_counts(conn, view, columns):
                            code = _norm(value)
                            if code is None:
                                continue
                            year = _column_year(reg, column, file_year)
                            known = codes_for(codelist, year)
                            if code not in known.known:
                                shape = CODE_SHAPES.get(codelist, _SMALL_CODE)
                                key = (reg.name, label, codelist, code if shape.match(code) else NOT_SHOWN)
                                unknown.setdefault(key, Counter())[year] += int(n)
                            elif code in known.unverified:
                                unverified[(reg.name, label, codelist, code)] += int(n)
        except Exception as e:  # a file that cannot be read is reported, the others are still checked
            finding.error = f"cannot be read as {fmt}: {e}"
    for (reg, label, codelist, code), by_year in sorted(unknown.items(), key=lambda kv: (kv[0][0], kv[0][1], -sum(kv[1].values()), kv[0][3])):
        years = sorted(y for y in by_year if y is not None)
        report.unknown_codes.append(CodeFinding(reg, label, codelist, code, sum(by_year.values()), years))
    for (reg, label, codelist, code), n in sorted(unverified.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[1], kv[0][3])):
        report.unverified_codes.append(CodeFinding(reg, label, codelist, code, n))
    return report


def _check_header(reg: Register, columns: list[str], finding: FileFinding) -> None:
    present = set(columns)
    upper = {c.upper(): c for c in columns}
    for c in reg.columns:
        if c.name in present:
            continue
        if c.name in upper:
            finding.wrong_case.append(upper[c.name])
        elif c.required:
            finding.missing_required.append(c.name)
        else:
            finding.missing_optional.append(c.name)
    for c in columns:
        if c in reg.column_names or reg.wide_family(c) is not None:
            continue
        if c.upper() in reg.column_names:
            continue  # reported above as wrong case
        if reg.wide_family(c.upper()) is not None:
            finding.wrong_case.append(c)
        else:
            finding.unexpected_columns.append(c)
