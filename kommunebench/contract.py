"""The register contract: what each delivered register must look like.

One registry (in the spirit of PUDL's metadata registry) that the synthetic generator
writes to, the raw loaders read by, the schema checks are generated from, and
``docs/register_contract.md`` is rendered from. Names are kept as Statistics Denmark
and STAR deliver them (upper case).

Layout of a landing folder::

    <landing>/DREAM/<anything>.{parquet,csv,sas7bdat}   one wide file (or several
                                                        disjoint sets of persons)
    <landing>/BEF/BEF<yyyy>.{...}                       one file per year
    <landing>/OPHG/OPHG.{...}                           all permits since 1997
    <landing>/UDDA/UDDA<yyyy>.{...}                     one file per year
    <landing>/RAMMEVILKAAR/RAMMEVILKAAR<yyyy>.{...}     one file per year

CSV files may be UTF-8 or ISO-8859-1, separated by ``,`` or ``;``; dates are ISO
(``2012-03-15``). SAS files carry their own types (dates as SAS dates).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

FORMATS: tuple[str, ...] = ("parquet", "csv", "sas7bdat")


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # DuckDB type
    description: str
    required: bool = True
    codelist: str | None = None  # a reference table the values must be in
    nullable: bool = True
    #: text columns: every value has exactly this many characters (``PNR``: 10); a file that
    #: delivers the column as a number is refused, not cast (a number loses leading zeros)
    length: int | None = None
    #: DATE columns: the latest date allowed. ``"register_year"``: not after the last day of
    #: the register year the file belongs to (its year for yearly registers; DREAM's last
    #: weekly year otherwise), in DREAM's ISO-week calendar; ``"today"``: not in the future
    #: (an event that may follow the last register year, such as an immigration after the
    #: permit); ``"plausible"``: only not after ``validation.DATE_MAX`` (a planned date,
    #: such as the end of an integration programme, may lie beyond the delivery)
    not_after: str = "register_year"


@dataclass(frozen=True)
class WideColumns:
    """A family of columns named by a pattern, e.g. the weekly ``Y_yyww`` codes."""

    name: str
    pattern: str  # regex with named groups (yy, yyyy, ww, mm, q)
    dtype: str
    description: str
    codelist: str | None = None

    def match(self, column: str) -> re.Match[str] | None:
        return re.fullmatch(self.pattern, column)

    def problem(self, column: str) -> str | None:
        """Why a column that matches the pattern still names no real period (``Y_1554``:
        ISO year 2015 has 53 weeks), or None."""
        m = self.match(column)
        if m is None:
            return None
        g = m.groupdict()
        if g.get("ww") is not None:
            year = week_column_year(int(g["yy"]))
            n = iso_weeks_in_year(year)
            if not 1 <= int(g["ww"]) <= n:
                return f"ISO year {year} has weeks 1..{n}, not {int(g['ww'])}"
        if g.get("mm") is not None and not 1 <= int(g["mm"]) <= 12:
            return f"month {g['mm']} does not exist"
        return None


@dataclass(frozen=True)
class Register:
    name: str
    description: str
    file_regex: str  # matched against the file stem, group "year" if per year
    per_year: bool
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    wide: tuple[WideColumns, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def wide_family(self, column: str) -> WideColumns | None:
        for w in self.wide:
            if w.match(column):
                return w
        return None


DREAM = Register(
    name="DREAM",
    description=(
        "STAR's longitudinal benefit register: one wide row per person with weekly "
        "benefit codes, monthly employment, quarterly assessment, yearly municipality."
    ),
    file_regex=r"(?i)^dream.*$",
    per_year=False,
    key=("PNR",),
    columns=(
        Column("PNR", "VARCHAR", "Pseudonymised person number (10 characters, text)", nullable=False, length=10),
        Column("KON", "VARCHAR", "Sex: M or K", codelist="kon"),
        Column("FOEDDT", "DATE", "Date of birth"),
        Column(
            "HERKOMST",
            "SMALLINT",
            "Origin: 1 Danish, 2 western immigrant, 3 non-western immigrant, "
            "4 western descendant, 5 non-western descendant",
            codelist="herkomst",
        ),
        Column("CIVILSTAND", "VARCHAR", "Civil status (G, U, F, E, L, O, P)", codelist="civst"),
        Column("STATSBORGERSKAB", "SMALLINT", "Citizenship, 4-digit country code"),
        Column("INTPGMSTDT", "DATE", "Start of the integration programme", required=False),
        Column("INTPGMSLDT", "DATE", "End of the integration programme (may be a planned end)", required=False,
               not_after="plausible"),
    ),
    wide=(
        WideColumns(
            "Y_yyww",
            r"^Y_(?P<yy>\d{2})(?P<ww>\d{2})$",
            "VARCHAR",
            "Weekly benefit code (ISO week; yy < 90 means 20yy); blank = no benefit",
            codelist="dream_codebook",
        ),
        WideColumns(
            "GRAD_yyyy_mm",
            r"^GRAD_(?P<yyyy>\d{4})_(?P<mm>\d{2})$",
            "DOUBLE",
            "Monthly employment degree (paid hours / 160.33); > 0 means employed",
        ),
        WideColumns(
            "MATCH_qKVyyyy",
            r"^MATCH_(?P<q>[1-4])KV(?P<yyyy>\d{4})$",
            "SMALLINT",
            "Quarterly match group 1-3 (2008-2013); blank = not assessed",
            codelist="match",
        ),
        WideColumns(
            "VISIT_qKVyyyy",
            r"^VISIT_(?P<q>[1-4])KV(?P<yyyy>\d{4})$",
            "SMALLINT",
            "Quarterly assessment from 2014: 1 job-ready, 2 activity-ready, "
            "3 education-ready, 4 activity-ready for education",
            codelist="visit",
        ),
        WideColumns(
            "NYKOMyyyy",
            r"^NYKOM(?P<yyyy>\d{4})$",
            "SMALLINT",
            "Municipality of residence in the year (3-digit code)",
            codelist="kom",
        ),
    ),
)

BEF = Register(
    name="BEF",
    description="Population register, status at the end of each year.",
    file_regex=r"(?i)^bef(?P<year>\d{4})\d{0,2}$",
    per_year=True,
    key=("PNR",),
    columns=(
        Column("PNR", "VARCHAR", "Pseudonymised person number (10 characters, text)", nullable=False, length=10),
        Column("KOEN", "SMALLINT", "Sex: 1 man, 2 woman", codelist="koen"),
        Column("FOED_DAG", "DATE", "Date of birth"),
        Column("IE_TYPE", "SMALLINT", "1 Danish origin, 2 immigrant, 3 descendant", codelist="ie_type"),
        Column("OPR_LAND", "SMALLINT", "Country of origin, 4-digit code", codelist="countries"),
        Column("KOM", "SMALLINT", "Municipality of residence", codelist="kom"),
        Column("CIVST", "VARCHAR", "Civil status (G, U, F, E, L, O, P)", codelist="civst"),
        Column("ANTBOERNF", "SMALLINT", "Number of children in the family"),
        Column("INDVAN_FOERSTE", "DATE", "First immigration date", required=False),
        Column("INDVAN_SENESTE", "DATE", "Latest immigration date", required=False),
    ),
)

OPHG = Register(
    name="OPHG",
    description="Residence permits since 1997.",
    file_regex=r"(?i)^ophg.*$",
    per_year=False,
    key=("PNR", "TILLADELSESDATO"),
    columns=(
        Column("PNR", "VARCHAR", "Pseudonymised person number (10 characters, text)", nullable=False, length=10),
        Column("TILLADELSESDATO", "DATE", "Date the permit was granted", nullable=False),
        Column("INDVANDRINGSDATO", "DATE", "Date of immigration (may follow the last register year)", not_after="today"),
        Column("GRUNDLAG", "VARCHAR", "Legal basis of the permit", codelist="ophg_grundlag"),
        Column(
            "KATEGORI",
            "SMALLINT",
            "Permit category (Udlaendingestyrelsen's Kategori: Asyl mv, Familiesammenfoering, Erhverv, "
            "EU/EOES, Studie, Det oevrige opholdsomraade; later also Brexit, Ukraine saerlov)",
        ),
    ),
)

UDDA = Register(
    name="UDDA",
    description="Highest completed education, status at the end of each year.",
    file_regex=r"(?i)^udda(?P<year>\d{4})\d{0,2}$",
    per_year=True,
    key=("PNR",),
    columns=(
        Column("PNR", "VARCHAR", "Pseudonymised person number (10 characters, text)", nullable=False, length=10),
        Column(
            "HFAUDD",
            "SMALLINT",
            "Highest completed education: Statistics Denmark's 4-digit UDD code (not systematic: "
            "the level comes from the reference table, not from the digits)",
            codelist="hfaudd_codes",
        ),
    ),
)

RAMMEVILKAAR = Register(
    name="RAMMEVILKAAR",
    description="Municipal framework conditions per municipality and year.",
    file_regex=r"(?i)^rammevilkaar(?P<year>\d{4})$",
    per_year=True,
    key=("KOM", "AAR"),
    columns=(
        Column("KOM", "SMALLINT", "Municipality (3-digit code)", codelist="kom", nullable=False),
        Column("AAR", "SMALLINT", "Year", nullable=False),
        Column("LEDIGHED_PENDLING", "DOUBLE", "Unemployment rate in the commuting area, %"),
        Column("JOB_PR_INDB", "DOUBLE", "Jobs per resident aged 16-64 in the commuting area"),
        Column("ANDEL_IKKEVESTLIG", "DOUBLE", "Share of non-western residents, %"),
        Column("ANDEL_INDUSTRI", "DOUBLE", "Share of jobs in manufacturing, %"),
    ),
)

REGISTERS: dict[str, Register] = {r.name: r for r in (DREAM, BEF, OPHG, UDDA, RAMMEVILKAAR)}

#: Small code lists that live in the contract itself (larger ones are reference tables).
CODELISTS: dict[str, frozenset] = {
    "kon": frozenset({"M", "K"}),
    "koen": frozenset({1, 2}),
    "herkomst": frozenset({1, 2, 3, 4, 5}),
    "ie_type": frozenset({1, 2, 3}),
    "civst": frozenset({"G", "U", "F", "E", "L", "O", "P"}),
    "match": frozenset({1, 2, 3}),
    "visit": frozenset({1, 2, 3, 4}),
}


def week_column(year: int, week: int) -> str:
    """DREAM's weekly column name, e.g. ``Y_1201`` for ISO week 1 of 2012."""
    return f"Y_{year % 100:02d}{week:02d}"


def iso_weeks_in_year(year: int) -> int:
    """52 or 53: the ISO weeks of ``year`` (28 December is always in the last one)."""
    return dt.date(year, 12, 28).isocalendar()[1]


def last_day_of_register_year(year: int) -> dt.date:
    """The Sunday ending the last ISO week of ``year``: DREAM's weeks are ISO weeks, so a
    register year runs to this day (2009 to 3 January 2010)."""
    return dt.date.fromisocalendar(year, iso_weeks_in_year(year), 7)


def week_column_year(yy: int) -> int:
    """Two-digit DREAM year to four digits: below 90 means 20yy."""
    return 2000 + yy if yy < 90 else 1900 + yy


def render_markdown() -> str:
    """The contract as a Markdown document (``docs/register_contract.md``)."""
    out = ["# Register contract", "", (__doc__ or "").strip(), ""]
    for reg in REGISTERS.values():
        out += [f"## {reg.name}", "", reg.description, ""]
        out += [
            f"- file name (stem) must match: `{reg.file_regex}`",
            f"- one file per year: {'yes' if reg.per_year else 'no'}",
            f"- key (unique{' within a year' if reg.per_year else ''}): `{', '.join(reg.key)}`",
            "",
            "| column | type | required | code list | description |",
            "|---|---|---|---|---|",
        ]
        for c in reg.columns:
            out.append(
                f"| `{c.name}` | {c.dtype} | {'yes' if c.required else 'no'} | "
                f"{c.codelist or ''} | {c.description} |"
            )
        for w in reg.wide:
            out.append(f"| `{w.name}` (`{w.pattern}`) | {w.dtype} | family | {w.codelist or ''} | {w.description} |")
        out.append("")
    out += [
        "## Columns the loader adds",
        "",
        "Every table `raw.<register>` also has, for lineage:",
        "",
        "- `_source_file`: the name of the delivered file the row came from;",
        "- `_source_row`: the row's number within that file, from 1;",
        "- `AAR` (yearly registers whose files have no `AAR` column): the year in the file name.",
        "",
        "Each published load is listed in `raw.load_audit` (file, format, encoding, size, sha256, "
        "rows, load time, Dagster run id).",
        "",
    ]
    out += [
        "## Rules a delivery must pass",
        "",
        "A delivery that breaks any of these is not published (nothing in `raw` changes); the error names the",
        "file, the column and the rule, with example values (never a person number), and the rejected rows",
        "are kept in `quarantine.<register>` with the rule each broke (see the README).",
        "",
        "| rule | what |",
        "|---|---|",
        "| `register_folder_exists`, `register_has_files` | every register has its folder and at least one file |",
        "| `file_name_matches_contract`, `one_file_per_year` | names as above; one file per year for yearly registers |",
        "| `files_inside_landing_folder` | no file or folder is a link leading out of the landing folder |",
        "| `file_not_empty`, `file_readable`, `file_has_rows` | a file has bytes, can be read in its format (not truncated), and holds rows |",
        "| `column_names_upper_case`, `expect_column_to_exist` | required columns present, upper case |",
        "| `column_delivered_as_text` | `PNR` delivered as text: a numeric column is refused, not cast (it lost its leading zeros) |",
        "| `expect_column_value_lengths_to_equal` | every `PNR` has 10 characters |",
        "| `wide_columns_name_real_periods` | `Y_yyww` is an ISO week of its year (no `Y_1554`), `GRAD_yyyy_mm` a month |",
        "| `values_cast_to_<type>` | every value casts to the contract type |",
        "| `expect_column_values_to_not_be_null`, `..._to_be_unique`, `..._to_be_in_set` | keys present and unique, codes in their code lists |",
        "| `expect_column_values_to_be_between` | dates from 1900 on; employment degree 0..3 |",
        "| `date_not_after_register_year` | dates not after the end of the file's register year (ISO weeks); for DREAM and OPHG the last year of DREAM's weekly columns |",
        "| `date_not_in_the_future` | `INDVANDRINGSDATO` (may follow the last register year) not after today |",
        "| `permit_not_before_birth` | no OPHG permit dated before the person's birth (DREAM `FOEDDT`, BEF `FOED_DAG`) |",
        "| `birth_before_first_week_on_record` | no DREAM weekly code in a week that ended before the person's birth |",
        "| `expect_weekly_codes_in_codebook` | every weekly code is in the codebook (or only a warning, `unknown_codes: warn`) |",
        "",
        "Yearly files for years outside the register years (`KOMMUNEBENCH_REGISTER_YEARS`), folders inside",
        "register folders, hidden files, files in other formats and anything else in the landing folder",
        "are not read; they are listed in a warning of the load.",
        "",
    ]
    out += ["## Code lists", ""]
    for name, values in CODELISTS.items():
        out.append(f"- `{name}`: {', '.join(map(str, sorted(values, key=str)))}")
    out.append(
        "- `kom`, `countries`, `dream_codebook`, `ophg_grundlag`, `hfaudd_codes`: reference tables in "
        "`kommunebench/reference/` (`kom`: the 98 municipalities from 2007, "
        "`municipalities_historic.csv` before); `kommunebench check-extract` lists the codes a "
        "delivery holds that these tables do not know"
    )
    return "\n".join(out) + "\n"
