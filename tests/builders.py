"""Hand-built deliveries: a few persons whose every week is known.

``write_delivery`` writes all five registers in the contract's layout, so tests can
state exactly what a person did and check what the pipeline makes of it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from kommunebench import refdata
from kommunebench.contract import week_column
from kommunebench.landing import write_table


def iso_weeks(year: int) -> int:
    return dt.date(year, 12, 28).isocalendar()[1]


def monday(year: int, week: int) -> dt.date:
    return dt.date.fromisocalendar(year, week, 1)


@dataclass
class Person:
    pnr: str
    birth: dt.date = dt.date(1985, 6, 1)
    kon: str = "M"
    herkomst: int = 3
    ie_type: int = 2
    opr_land: int = 5482  # Syria (non-western)
    civst: str = "G"
    children: int = 1
    kom: int | dict[int, int] = 101
    first_immigration: dt.date | None = dt.date(2010, 1, 1)
    permit: tuple[dt.date, str] | None = None  # (TILLADELSESDATO, GRUNDLAG)
    intpgm: tuple[dt.date, dt.date] | None = None
    hfaudd: int | None = None
    # weekly codes: {monday date: code}; missing weeks are blank
    codes: dict[dt.date, str] = field(default_factory=dict)
    # months with employment: {(year, month): grad}
    grad: dict[tuple[int, int], float] = field(default_factory=dict)
    match: dict[tuple[int, int], int] = field(default_factory=dict)  # (year, quarter) -> group
    visit: dict[tuple[int, int], int] = field(default_factory=dict)

    def kom_in(self, year: int) -> int:
        return self.kom if isinstance(self.kom, int) else self.kom.get(year, next(iter(self.kom.values())))

    def weeks(self, start: dt.date, codes: list[str]) -> "Person":
        """Set consecutive weekly codes from the ISO week containing ``start``."""
        d = start - dt.timedelta(days=start.weekday())
        for c in codes:
            self.codes[d] = c
            d += dt.timedelta(days=7)
        return self

    def job_weeks(self, start: dt.date, n: int, grad: float = 0.8) -> "Person":
        """n blank weeks with employment in every month they touch."""
        d = start - dt.timedelta(days=start.weekday())
        for _ in range(n):
            self.codes.pop(d, None)
            self.grad[(d.year, d.month)] = grad
            d += dt.timedelta(days=7)
        return self


def write_delivery(
    persons: list[Person], landing: Path, years: range | list[int], fmt: str = "parquet",
    encoding: str = "utf-8",
) -> Path:
    years = list(years)
    landing = Path(landing)
    # DREAM
    rows = []
    for p in persons:
        row: dict[str, object] = {
            "PNR": p.pnr, "KON": p.kon, "FOEDDT": p.birth, "HERKOMST": p.herkomst,
            "CIVILSTAND": p.civst, "STATSBORGERSKAB": p.opr_land,
            "INTPGMSTDT": p.intpgm[0] if p.intpgm else None,
            "INTPGMSLDT": p.intpgm[1] if p.intpgm else None,
        }
        for y in years:
            for w in range(1, iso_weeks(y) + 1):
                row[week_column(y, w)] = p.codes.get(monday(y, w))
            for m in range(1, 13):
                row[f"GRAD_{y}_{m:02d}"] = p.grad.get((y, m))
            for qtr in range(1, 5):
                if y <= 2013:
                    row[f"MATCH_{qtr}KV{y}"] = p.match.get((y, qtr))
                else:
                    row[f"VISIT_{qtr}KV{y}"] = p.visit.get((y, qtr))
            row[f"NYKOM{y}"] = p.kom_in(y)
        rows.append(row)
    schema: dict[str, pl.DataType] = {}
    for k in rows[0]:
        if k.startswith("Y_") or k in ("PNR", "KON", "CIVILSTAND"):
            schema[k] = pl.Utf8
        elif k.startswith("GRAD_"):
            schema[k] = pl.Float64
        elif k in ("FOEDDT", "INTPGMSTDT", "INTPGMSLDT"):
            schema[k] = pl.Date
        else:
            schema[k] = pl.Int16
    write_table(pl.DataFrame(rows, schema=schema), landing / "DREAM" / f"DREAM.{fmt}", encoding=encoding)
    # BEF and UDDA per year
    for y in years:
        bef = pl.DataFrame(
            [
                {
                    "PNR": p.pnr, "KOEN": 1 if p.kon == "M" else 2, "FOED_DAG": p.birth, "IE_TYPE": p.ie_type,
                    "OPR_LAND": p.opr_land, "KOM": p.kom_in(y), "CIVST": p.civst, "ANTBOERNF": p.children,
                    "INDVAN_FOERSTE": p.first_immigration, "INDVAN_SENESTE": p.first_immigration,
                }
                for p in persons
            ],
            schema={
                "PNR": pl.Utf8, "KOEN": pl.Int16, "FOED_DAG": pl.Date, "IE_TYPE": pl.Int16, "OPR_LAND": pl.Int16,
                "KOM": pl.Int16, "CIVST": pl.Utf8, "ANTBOERNF": pl.Int16, "INDVAN_FOERSTE": pl.Date,
                "INDVAN_SENESTE": pl.Date,
            },
        )
        write_table(bef, landing / "BEF" / f"BEF{y}.{fmt}", encoding=encoding)
        udda = pl.DataFrame(
            [{"PNR": p.pnr, "HFAUDD": p.hfaudd} for p in persons], schema={"PNR": pl.Utf8, "HFAUDD": pl.Int16}
        )
        write_table(udda, landing / "UDDA" / f"UDDA{y}.{fmt}", encoding=encoding)
        kom = refdata.municipalities()["kommunekode"].to_list()
        ram = pl.DataFrame(
            {
                "KOM": kom, "AAR": [y] * len(kom),
                "LEDIGHED_PENDLING": [4.0 + (k % 7) * 0.3 for k in kom],
                "JOB_PR_INDB": [0.7 + (k % 5) * 0.02 for k in kom],
                "ANDEL_IKKEVESTLIG": [5.0 + (k % 11) for k in kom],
                "ANDEL_INDUSTRI": [10.0 + (k % 13) for k in kom],
            },
            schema={"KOM": pl.Int16, "AAR": pl.Int16, "LEDIGHED_PENDLING": pl.Float64, "JOB_PR_INDB": pl.Float64,
                    "ANDEL_IKKEVESTLIG": pl.Float64, "ANDEL_INDUSTRI": pl.Float64},
        )
        write_table(ram, landing / "RAMMEVILKAAR" / f"RAMMEVILKAAR{y}.{fmt}", encoding=encoding)
    ophg = pl.DataFrame(
        [
            {"PNR": p.pnr, "TILLADELSESDATO": p.permit[0], "INDVANDRINGSDATO": p.first_immigration,
             "GRUNDLAG": p.permit[1], "KATEGORI": 1}
            for p in persons if p.permit
        ],
        schema={"PNR": pl.Utf8, "TILLADELSESDATO": pl.Date, "INDVANDRINGSDATO": pl.Date, "GRUNDLAG": pl.Utf8,
                "KATEGORI": pl.Int16},
    )
    write_table(ophg, landing / "OPHG" / f"OPHG.{fmt}", encoding=encoding)
    return landing
