"""The time grid of a synthetic delivery: ISO weeks, months, quarters, years.

DREAM counts time in ISO weeks (``Y_yyww``), so a year has 52 or 53 weeks (2009 and
2015 have 53 between 2008 and 2018). A week belongs to the month and quarter of its
Monday; ISO week 1 of 2008 starts on Monday 2007-12-31, whose month (December 2007)
lies before the first ``GRAD_yyyy_mm`` column and so has no employment column.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from kommunebench.contract import week_column

EPOCH = date(1970, 1, 1)


def iso_weeks_in_year(year: int) -> int:
    """52 or 53: the ISO week of 28 December is always the year's last week."""
    return date(year, 12, 28).isocalendar()[1]


def day_number(d: date) -> int:
    """Days since 1970-01-01 (numpy ``datetime64[D]`` integer)."""
    return (d - EPOCH).days


@dataclass(frozen=True)
class Calendar:
    """Weeks ``first_year``..``last_year`` with their month, quarter and year indices."""

    first_year: int
    last_year: int
    week_year: np.ndarray  # ISO year of each week
    week_no: np.ndarray  # ISO week number
    week_monday: np.ndarray  # Monday as days since 1970-01-01 (int32)
    week_month: np.ndarray  # index into months, -1 if the Monday's month is outside
    week_quarter: np.ndarray  # index into quarters, -1 if outside
    week_year_idx: np.ndarray  # index into years (ISO year - first_year)
    months: tuple[tuple[int, int], ...]  # (yyyy, mm)
    quarters: tuple[tuple[int, int], ...]  # (yyyy, q)

    @property
    def n_weeks(self) -> int:
        return len(self.week_no)

    @property
    def years(self) -> range:
        return range(self.first_year, self.last_year + 1)

    def week_columns(self) -> list[str]:
        return [week_column(int(y), int(w)) for y, w in zip(self.week_year, self.week_no)]

    def first_week_of_year(self, year: int) -> int:
        return int(np.flatnonzero(self.week_year == year)[0])

    def last_week_of_year(self, year: int) -> int:
        return int(np.flatnonzero(self.week_year == year)[-1])

    def week_of_day(self, days: np.ndarray) -> np.ndarray:
        """Index of the week containing each day (clipped to the grid: -1 before, n after)."""
        idx = np.searchsorted(self.week_monday, days, side="right") - 1
        last_day = self.week_monday[-1] + 6
        return np.where(days > last_day, self.n_weeks, idx)

    @property
    def first_day(self) -> int:
        return int(self.week_monday[0])

    @property
    def last_day(self) -> int:
        return int(self.week_monday[-1] + 6)


def make_calendar(first_year: int, last_year: int) -> Calendar:
    if not (1990 <= first_year <= last_year <= 2089):
        raise ValueError(
            f"years must satisfy 1990 <= first_year <= last_year <= 2089 (DREAM's two-digit "
            f"years), got first_year={first_year}, last_year={last_year}"
        )
    wy, wn, mon = [], [], []
    for y in range(first_year, last_year + 1):
        for w in range(1, iso_weeks_in_year(y) + 1):
            wy.append(y)
            wn.append(w)
            mon.append(day_number(date.fromisocalendar(y, w, 1)))
    months = tuple((y, m) for y in range(first_year, last_year + 1) for m in range(1, 13))
    quarters = tuple((y, q) for y in range(first_year, last_year + 1) for q in range(1, 5))
    monday = np.array(mon, dtype=np.int32)
    mdates = monday.astype("datetime64[D]")
    yyyy = mdates.astype("datetime64[Y]").astype(int) + 1970
    mm = mdates.astype("datetime64[M]").astype(int) % 12 + 1
    inside = (yyyy >= first_year) & (yyyy <= last_year)
    month_idx = np.where(inside, (yyyy - first_year) * 12 + (mm - 1), -1)
    quarter_idx = np.where(inside, (yyyy - first_year) * 4 + (mm - 1) // 3, -1)
    week_year = np.array(wy, dtype=np.int16)
    return Calendar(
        first_year=first_year,
        last_year=last_year,
        week_year=week_year,
        week_no=np.array(wn, dtype=np.int8),
        week_monday=monday,
        week_month=month_idx.astype(np.int32),
        week_quarter=quarter_idx.astype(np.int32),
        week_year_idx=(week_year - first_year).astype(np.int32),
        months=months,
        quarters=quarters,
    )
