"""spells: DREAM's wide weekly codes -> person-weeks -> validated spells, per register year.

Both assets are partitioned by calendar (ISO) year: a new register year adds one
partition, and a year whose content did not change keeps its data version, so only
the cohorts whose window touches a changed year go stale.
"""


import datetime as dt
from typing import Iterator

import dagster as dg
from pydantic import Field

from kommunebench.states import ALPHABET
from kommunebench.validation import RuleOutcome
from orchestration.code_version import code_version, sql_text
from orchestration.partitions import previous_year_mapping, register_year_partitions
from orchestration.resources import Warehouse
from orchestration.warehouse import check_result, md_table, table_metadata, write_partition_checked


def iso_weeks_in_year(year: int) -> int:
    return dt.date(year, 12, 28).isocalendar()[1]


def first_week_seq(year: int) -> int:
    return (dt.date.fromisocalendar(year, 1, 1) - dt.date(2000, 1, 3)).days // 7


class PersonWeeksConfig(dg.Config):
    unknown_state: str = Field(
        default="OTHER",
        description="Analysis state given to a DREAM code that is not in the codebook (only possible when "
        "raw.dream was loaded with unknown_codes='warn'; such weeks are counted in the metadata).",
    )


def dream_year_view(year: int, weeks: list[int], columns: set[str]) -> str:
    """The temporary view ``_dream_year`` (PNR, kom, week, code, grad, prev_code, prev_grad).

    One UNPIVOT over raw.dream of, per ISO week of the year: the weekly code, the
    employment degree of the month holding the week's Monday, and the same two values of
    the week before (NULL in week 1), so neither the monthly degree nor the previous week
    needs a join or a window. Only identifiers are generated, from column names that
    matched the register contract (quoted by ``q``); no values.
    """
    from kommunebench.raw import q

    proj, tuples = ["PNR", f"{q(f'NYKOM{year}')} AS kom"], []
    grads: dict[int, str] = {}
    for w in weeks:
        col = f"Y_{year % 100:02d}{w:02d}"
        monday = dt.date.fromisocalendar(year, w, 1)
        grad = f"GRAD_{monday.year}_{monday.month:02d}"
        grads[w] = q(f"G_{w:02d}")
        proj.append(q(col))
        proj.append(f"{q(grad)} AS {grads[w]}" if grad in columns else f"CAST(NULL AS DOUBLE) AS {grads[w]}")
    proj += ["CAST(NULL AS VARCHAR) AS \"P_00\"", "CAST(NULL AS DOUBLE) AS \"PG_00\""]
    prev_code, prev_grad = q("P_00"), q("PG_00")
    for w in weeks:
        col = q(f"Y_{year % 100:02d}{w:02d}")
        tuples.append(f"({col}, {grads[w]}, {prev_code}, {prev_grad}) AS \"{w}\"")
        prev_code, prev_grad = col, grads[w]
    return (
        "CREATE OR REPLACE TEMP VIEW _dream_year AS SELECT * FROM (SELECT "
        + ", ".join(proj)
        + " FROM raw.dream) UNPIVOT INCLUDE NULLS ((code, grad, prev_code, prev_grad) FOR week IN ("
        + ", ".join(tuples)
        + "))"
    )


def person_weeks_outcomes(conn, year: int, n_weeks: int) -> tuple[RuleOutcome, RuleOutcome]:
    """Rules on the year's rows of ``spells.person_weeks`` (inside the publishing transaction):
    unique person-weeks (every DREAM person once, each weekly column unpivoted once); every
    person has every week and a state."""
    dup_persons = conn.execute(sql_text("spells/check_person_weeks_unique")).fetchall()[0][0]
    expected, staged, unmapped = conn.execute(
        sql_text("spells/check_person_weeks_complete"), {"year": year, "n_weeks": n_weeks, "alphabet": list(ALPHABET)}
    ).fetchall()[0]
    dup = int(dup_persons) * n_weeks
    unique = RuleOutcome("person_week_unique", "PNR,week_seq", dup == 0, failing_rows=dup, checked_rows=int(staged),
                         detail=f"{dup_persons} person(s) more than once in raw.dream" if dup else "")
    complete = RuleOutcome(
        "person_weeks_complete", "week", expected == staged and unmapped == 0,
        failing_rows=int(abs(expected - staged) + unmapped), checked_rows=int(staged),
        detail=f"expected {expected} person-weeks, staged {staged}, {unmapped} without a state of the alphabet",
    )
    return unique, complete


def spells_outcomes(conn, year: int) -> tuple[list[RuleOutcome], list[RuleOutcome]]:
    """Rules on the year's rows of ``spells.spells`` (inside the publishing transaction): start <= end,
    no overlaps; spell weeks reconcile with person-weeks per person and state."""
    bad_order, overlaps, not_rec, spell_weeks, pw = conn.execute(sql_text("spells/check_spells"), {"year": year}).fetchall()[0]
    n = conn.execute("SELECT count(*) FROM spells.spells WHERE year = $y", {"y": year}).fetchall()[0][0]
    valid = [
        RuleOutcome("spell_start_le_end", "start_week_seq,end_week_seq", bad_order == 0, int(bad_order), int(n)),
        RuleOutcome("spells_do_not_overlap", "PNR", overlaps == 0, int(overlaps), int(n)),
    ]
    rec = [
        RuleOutcome("spell_weeks_equal_person_weeks", "n_weeks", not_rec == 0 and spell_weeks == pw, int(not_rec), int(n),
                    detail=f"{spell_weeks} spell weeks vs {pw} person-weeks; "
                    f"{not_rec} (person, state) cell(s) where they differ"),
    ]
    return valid, rec


def _content_version(conn, table: str, year: int) -> str:
    n, h = conn.execute(
        f"SELECT count(*), coalesce(bit_xor(hash(PNR, week_seq, state, kom, code)), 0) FROM {table} WHERE year = $y",
        {"y": year},
    ).fetchall()[0]
    return f"{n}-{h:x}"


@dg.asset(
    key=["spells", "person_weeks"],
    deps=[dg.AssetKey(["raw", "dream"]), dg.AssetKey(["ref", "reference_tables"])],
    partitions_def=register_year_partitions,
    group_name="spells",
    kinds={"duckdb", "sql"},
    owners=["team:data-engineering"],
    description=(
        "DREAM's weekly benefit codes of one ISO year unpivoted to one row per person and week, mapped "
        "through the codebook to analysis states; blank weeks are JOB when the month's employment degree "
        "(GRAD) is > 0, else NONE; with the year's municipality (NYKOM) and a flag for the weeks that "
        "start a spell (state differs from the week before)."
    ),
    code_version=code_version(sql=("spells/person_weeks", "spells/check_person_weeks_unique", "spells/check_person_weeks_complete"), modules=("assets.spells",)),
    check_specs=[
        dg.AssetCheckSpec("person_week_unique", asset=["spells", "person_weeks"], blocking=True,
                          description="Each person has each week at most once."),
        dg.AssetCheckSpec("person_weeks_complete", asset=["spells", "person_weeks"], blocking=True,
                          description="Every DREAM person has every ISO week of the year (52 or 53) and every week has a state; the year's weekly columns are exactly weeks 1..52/53."),
    ],
    pool="duckdb",
)
def person_weeks(context: dg.AssetExecutionContext, config: PersonWeeksConfig, warehouse: Warehouse) -> Iterator:
    year = int(context.partition_key)
    n_weeks = iso_weeks_in_year(year)
    yy = f"{year % 100:02d}"
    params = {"year": year, "first_week_seq": first_week_seq(year), "unknown_state": config.unknown_state}
    if config.unknown_state not in ALPHABET:
        raise dg.Failure(f"unknown_state {config.unknown_state!r} is not in the alphabet {ALPHABET}")
    with warehouse.connect() as conn:
        cols = [r[0] for r in conn.execute("DESCRIBE raw.dream").fetchall()]
        weeks = sorted(int(c[4:6]) for c in cols if c.startswith(f"Y_{yy}") and len(c) == 6)
        layout = RuleOutcome(
            "weekly_columns_are_iso_weeks_of_year", f"Y_{yy}ww", weeks == list(range(1, n_weeks + 1)),
            failing_rows=0, checked_rows=len(weeks), file="raw.dream",
            detail=f"found weeks {weeks[:1]}..{weeks[-1:]} ({len(weeks)}), expected 1..{n_weeks}",
        )
        if not weeks or f"NYKOM{year}" not in cols:
            raise dg.Failure(
                f"raw.dream has no weekly columns Y_{yy}ww or no NYKOM{year} for register year {year} "
                "(rule: a register year is materialised only when DREAM covers it)"
            )
        context.log.info(f"person_weeks {year}: unpivoting {len(weeks)} weekly columns")
        conn.execute(dream_year_view(year, weeks, set(cols)))
        query = sql_text("spells/person_weeks")
        # stage -> validate -> publish in one transaction: the year's rows are written once,
        # validated in place, and rolled back (the last good year stays) if a rule breaks
        ok, (unique, complete) = write_partition_checked(
            conn, "spells.person_weeks", query, params, partition_column="year", partition_value=year,
            check=lambda: person_weeks_outcomes(conn, year, n_weeks),
            passed=lambda r: r[0].passed and r[1].passed and layout.passed,
        )
        yield check_result("person_week_unique", [unique])
        yield check_result("person_weeks_complete", [complete, layout])
        if not ok:
            raise dg.Failure(
                description=f"spells.person_weeks {year} not published: "
                + "; ".join(o.message() for o in (unique, complete, layout) if not o.passed)
            )
        unknown = conn.execute(
            "SELECT count(*) FROM spells.person_weeks WHERE year = $y AND code IS NOT NULL "
            "AND code NOT IN (SELECT code FROM ref.dream_codebook)", {"y": year},
        ).fetchall()[0][0]
        rows = int(complete.checked_rows)
        dist = conn.execute(
            "SELECT state, count(*) AS person_weeks, round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct "
            "FROM spells.person_weeks WHERE year = $y GROUP BY state ORDER BY person_weeks DESC",
            {"y": year},
        ).df()
        version = _content_version(conn, "spells.person_weeks", year)
        meta = table_metadata(conn, "spells.person_weeks", "WHERE year = $y", {"y": year})
    yield dg.MaterializeResult(
        data_version=dg.DataVersion(version),
        metadata={**meta, "iso_weeks": n_weeks, "weeks_with_unknown_code": int(unknown),
                  "state_distribution": md_table(dist), "published_rows": rows},
    )


@dg.asset(
    key=["spells", "spells"],
    ins={"person_weeks": dg.AssetIn(key=["spells", "person_weeks"], partition_mapping=previous_year_mapping(), dagster_type=dg.Nothing)},
    partitions_def=register_year_partitions,
    group_name="spells",
    kinds={"duckdb", "sql"},
    owners=["team:data-engineering"],
    description=(
        "Person-weeks of one ISO year collapsed to spells: maximal runs of one analysis state, with a flag "
        "for spells that go on from the previous year. Validated: start <= end, no overlaps, and spell "
        "weeks reconcile with person-weeks."
    ),
    code_version=code_version(sql=("spells/spells", "spells/check_spells"), modules=("assets.spells",)),
    check_specs=[
        dg.AssetCheckSpec("spells_valid", asset=["spells", "spells"], blocking=True,
                          description="start <= end, no overlapping spells within a person."),
        dg.AssetCheckSpec("spells_reconcile_with_person_weeks", asset=["spells", "spells"], blocking=True,
                          description="Every person-week is in exactly one spell of its own state: spell weeks per person and state equal the person's weeks in that state."),
    ],
    pool="duckdb",
)
def spells(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator:
    year = int(context.partition_key)
    first = first_week_seq(year)
    params = {"year": year, "first_week_seq": first, "last_week_seq": first + iso_weeks_in_year(year) - 1}
    query = sql_text("spells/spells")
    with warehouse.connect() as conn:
        # written once, validated in place, rolled back (the last good year stays) if a rule breaks
        ok, (valid, rec) = write_partition_checked(
            conn, "spells.spells", query, params, partition_column="year", partition_value=year,
            check=lambda: spells_outcomes(conn, year),
            passed=lambda r: all(o.passed for o in r[0] + r[1]),
        )
        yield check_result("spells_valid", valid)
        yield check_result("spells_reconcile_with_person_weeks", rec)
        if not ok:
            raise dg.Failure(description=f"spells.spells {year} not published: " + "; ".join(o.message() for o in valid + rec if not o.passed))
        lengths = conn.execute(
            "SELECT state, count(*) AS spells, round(avg(n_weeks), 1) AS mean_weeks, "
            "median(n_weeks) AS median_weeks FROM spells.spells WHERE year = $y GROUP BY state ORDER BY spells DESC",
            {"y": year},
        ).df()
        meta = table_metadata(conn, "spells.spells", "WHERE year = $y", {"y": year})
    yield dg.MaterializeResult(metadata={**meta, "spell_lengths": md_table(lengths)})
