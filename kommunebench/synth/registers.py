"""Turning a simulated chunk into register tables laid out as in ``kommunebench.contract``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from kommunebench import contract, refdata
from kommunebench.synth.calendar import Calendar, day_number
from kommunebench.synth.municipalities import Municipalities
from kommunebench.synth.population import (
    CIVST_CODES,
    EDU_CODES,
    EU_BASIS,
    HFAUDD_CODES,
    NO_DAY,
    OTHER_CODES,
    SPOUSE_BASIS,
    WORK_BASIS,
    Persons,
)
from kommunebench.synth.process import (
    CASH_SYSTEM,
    DAYS_PER_YEAR,
    DEAD,
    DISAB,
    DANISH,
    EARLYRET,
    EDU,
    EMIG,
    GONE,
    INTERN_PRIV,
    INTERN_PUB,
    MATERN,
    N_SIM_STATES,
    OTHER,
    PASSIVE,
    PENSION,
    PRE,
    SICK,
    UI,
    UPSKILL,
    WS_PRIV,
    WS_PUB,
    REFORM_YEAR,
    ChunkHistory,
)

FULL_TIME_HOURS = 160.33  # monthly hours of one full-time equivalent (domain.md section 7)
#: Permit categories (KATEGORI) the generator writes, by legal basis: Udlaendingestyrelsen's
#: categories as Statistics Denmark documents them (1 Asyl mv, 2 Familiesammenfoering,
#: 3 EU/EOES, 4 Erhverv, 5 Studie). The numbers are the project's placeholders: DST's
#: numeric KATEGORI codes could not be verified (reference/README.md).
KATEGORI = {"7_1": 1, "7_2": 1, "7_3": 1, "8_1": 1, SPOUSE_BASIS: 2, "9_1_2": 2, EU_BASIS: 3, WORK_BASIS: 4, "9I": 5}
_FIXED_CODE = {
    UPSKILL: "211", DANISH: "212", INTERN_PRIV: "221", INTERN_PUB: "222", WS_PRIV: "231",
    WS_PUB: "232", SICK: "890", UI: "111", MATERN: "811", EARLYRET: "611", DISAB: "711",
    PENSION: "721", EMIG: "997", DEAD: "998", GONE: "999",
}


@dataclass(frozen=True)
class CodeTable:
    codes: pl.Series  # codebook codes (Utf8), the blank code is ""
    index: dict[str, int]

    @classmethod
    def from_codebook(cls) -> CodeTable:
        codes = refdata.codebook()["code"]
        return cls(codes=codes, index={c: i for i, c in enumerate(codes.to_list())})

    def idx(self, code: str) -> int:
        try:
            return self.index[code]
        except KeyError:
            raise ValueError(f"dream_codebook.csv: column 'code': the generator needs code {code!r}, which is missing") from None


def _dates(days: np.ndarray) -> pl.Series:
    """Day numbers (NO_DAY = missing) as a polars Date series."""
    valid = days != NO_DAY
    s = pl.Series(np.where(valid, days, 0).astype(np.int32)).cast(pl.Date)
    return s.set(pl.Series(~valid), None)


def assessments(values: np.ndarray, hist: ChunkHistory, cal: Calendar) -> np.ndarray:
    """Quarterly job-centre assessment as registered [person, quarter]: 0 = not assessed.

    Persons who were clients of the job centre (passive support or a measure) in a quarter
    are assessed; the value is the person's assessment of that quarter
    (``process.assessment_values``).
    """
    Q = len(cal.quarters)
    wq = cal.week_quarter
    valid = np.flatnonzero(wq >= 0)
    client = CASH_SYSTEM[hist.states[valid]]  # [week, person]
    starts = np.searchsorted(wq[valid], np.arange(Q))
    assessed = np.logical_or.reduceat(client, starts, axis=0).T  # [person, quarter]
    return np.where(assessed, values, 0).astype(np.int8)


#: Codes of passive support, chosen per week by the person's situation (``week_codes``).
PASSIVE_CODES = ("135", "136", "131", "130")


def sim_state_codes() -> dict[int, set[str]]:
    """Every DREAM code the generator may write for each simulation state (blank = "")."""
    out: dict[int, set[str]] = {s: {""} for s in range(N_SIM_STATES)}
    for s, c in _FIXED_CODE.items():
        out[s] = {c}
    out[PASSIVE] = set(PASSIVE_CODES)
    out[EDU] = set(EDU_CODES)
    out[OTHER] = set(OTHER_CODES)
    return out


def week_codes(p: Persons, hist: ChunkHistory, cal: Calendar, assess: np.ndarray, codes: CodeTable) -> np.ndarray:
    """DREAM code index [week, person] into ``codes.codes``."""
    lut = np.full(N_SIM_STATES, codes.idx(""), np.int16)
    for s, c in _FIXED_CODE.items():
        lut[s] = codes.idx(c)
    edu_idx = np.array([codes.idx(c) for c in p.edu_code], np.int16)
    other_idx = np.array([codes.idx(c) for c in p.other_code], np.int16)
    c135, c136, c131, c130 = (codes.idx(c) for c in PASSIVE_CODES)
    W = cal.n_weeks
    out = np.empty((W, p.n), np.int16)
    has_prog = p.intpgm_start_day != NO_DAY
    immig = p.arrival_day != NO_DAY
    for t in range(W):
        s = hist.states[t]
        day = int(cal.week_monday[t])
        year = int(cal.week_year[t])
        c = lut[s]
        c = np.where(s == EDU, edu_idx, c)
        c = np.where(s == OTHER, other_idx, c)
        pas = s == PASSIVE
        if pas.any():
            in_prog = has_prog & (day >= p.intpgm_start_day) & (day <= p.intpgm_end_day)
            ydk = np.where(immig, (day - p.arrival_day) / DAYS_PER_YEAR, 40.0)
            q = int(cal.week_quarter[t])
            ready2 = (assess[:, q] == 2) if (q >= 0 and year >= REFORM_YEAR) else np.zeros(p.n, bool)
            pc = np.where(
                in_prog,
                c135,
                np.where(immig & (ydk < 7) & (year < 2012), c136, np.where(ready2, c131, c130)),
            )
            c = np.where(pas, pc, c)
        out[t] = c
    return out


def resident_matrix(hist: ChunkHistory) -> np.ndarray:
    """[week, person]: in Denmark and alive that week."""
    return (hist.states != PRE) & (hist.states < EMIG)


def dream_frame(
    p: Persons,
    hist: ChunkHistory,
    cal: Calendar,
    munis: Municipalities,
    assess: np.ndarray,
    codes: CodeTable,
) -> pl.DataFrame:
    """One wide DREAM row per person (column order: background, weeks, months, quarters, years)."""
    idx = week_codes(p, hist, cal, assess, codes)
    resident = resident_matrix(hist)
    cols: dict[str, pl.Series] = {}
    cols["PNR"] = pl.Series("PNR", p.pnr.tolist(), dtype=pl.Utf8)
    cols["KON"] = pl.Series("KON", np.where(p.female, "K", "M").tolist(), dtype=pl.Utf8)
    cols["FOEDDT"] = _dates(p.birth_day).alias("FOEDDT")
    cols["HERKOMST"] = pl.Series("HERKOMST", p.herkomst.astype(np.int16))
    first_civ = hist.civst_year[np.arange(p.n), np.argmax(hist.kom_year >= 0, axis=1)]
    cols["CIVILSTAND"] = pl.Series("CIVILSTAND", np.array(CIVST_CODES)[first_civ].tolist(), dtype=pl.Utf8)
    cols["STATSBORGERSKAB"] = pl.Series("STATSBORGERSKAB", p.citizenship.astype(np.int16))
    start = np.where(p.intpgm_start_day <= cal.last_day, p.intpgm_start_day, NO_DAY)
    end = np.where((start != NO_DAY) & (p.intpgm_end_day <= cal.last_day), p.intpgm_end_day, NO_DAY)
    cols["INTPGMSTDT"] = _dates(start.astype(np.int32)).alias("INTPGMSTDT")
    cols["INTPGMSLDT"] = _dates(end.astype(np.int32)).alias("INTPGMSLDT")
    for t, name in enumerate(cal.week_columns()):
        cols[name] = codes.codes.gather(idx[t]).alias(name)
    wm = cal.week_month
    valid = np.flatnonzero(wm >= 0)
    starts = np.searchsorted(wm[valid], np.arange(len(cal.months)))
    res_month = np.logical_or.reduceat(resident[valid], starts, axis=0).T  # [person, month]
    grad = np.round(hist.hours.astype(np.float64) / FULL_TIME_HOURS, 2)
    for m, (yyyy, mm) in enumerate(cal.months):
        name = f"GRAD_{yyyy}_{mm:02d}"
        cols[name] = pl.Series(name, np.where(res_month[:, m], grad[:, m], np.nan)).fill_nan(None)
    for prefix, keep in (("MATCH", lambda y: y < REFORM_YEAR), ("VISIT", lambda y: y >= REFORM_YEAR)):
        for q, (yyyy, qq) in enumerate(cal.quarters):
            if keep(yyyy):
                name = f"{prefix}_{qq}KV{yyyy}"
                v = assess[:, q].astype(np.int16)
                cols[name] = pl.Series(name, v).set(pl.Series(v == 0), None)
    for j, y in enumerate(cal.years):
        name = f"NYKOM{y}"
        k = hist.kom_year[:, j]
        v = munis.codes[np.maximum(k, 0)].astype(np.int16)
        cols[name] = pl.Series(name, v).set(pl.Series(k < 0), None)
    return pl.DataFrame(list(cols.values()))


def bef_frame(p: Persons, hist: ChunkHistory, cal: Calendar, munis: Municipalities, year: int) -> pl.DataFrame:
    """BEF for ``year``: persons alive and resident in the last ISO week of the year."""
    j = year - cal.first_year
    t = cal.last_week_of_year(year)
    s = hist.states[t]
    rows = np.flatnonzero((s != PRE) & (s < EMIG))
    immig = p.ie_type[rows] == 2
    return pl.DataFrame(
        [
            pl.Series("PNR", p.pnr[rows].tolist(), dtype=pl.Utf8),
            pl.Series("KOEN", np.where(p.female[rows], 2, 1).astype(np.int16)),
            _dates(p.birth_day[rows]).alias("FOED_DAG"),
            pl.Series("IE_TYPE", p.ie_type[rows].astype(np.int16)),
            pl.Series("OPR_LAND", p.country[rows].astype(np.int16)),
            pl.Series("KOM", munis.codes[hist.kom_year[rows, j]].astype(np.int16)),
            pl.Series("CIVST", np.array(CIVST_CODES)[hist.civst_year[rows, j]].tolist(), dtype=pl.Utf8),
            pl.Series("ANTBOERNF", hist.kids_year[rows, j].astype(np.int16)),
            _dates(np.where(immig, p.arrival_day[rows], NO_DAY).astype(np.int32)).alias("INDVAN_FOERSTE"),
            _dates(np.where(immig, p.latest_arrival_day[rows], NO_DAY).astype(np.int32)).alias("INDVAN_SENESTE"),
        ]
    )


def udda_frame(p: Persons, hist: ChunkHistory, cal: Calendar, year: int) -> pl.DataFrame:
    """UDDA for ``year``: every BEF person; HFAUDD missing where no education is registered."""
    j = year - cal.first_year
    t = cal.last_week_of_year(year)
    s = hist.states[t]
    rows = np.flatnonzero((s != PRE) & (s < EMIG))
    level = hist.edu_level_year[rows, j]
    first_code = np.array([0] + [HFAUDD_CODES[k][0] for k in range(1, 7)], np.int16)
    code = np.where(level == p.edu_level[rows], p.hfaudd[rows], first_code[level])
    known = hist.edu_known_year[rows, j] & (level > 0)
    h = pl.Series("HFAUDD", code.astype(np.int16)).set(pl.Series(~known), None)
    return pl.DataFrame([pl.Series("PNR", p.pnr[rows].tolist(), dtype=pl.Utf8), h])


def ophg_frame(p: Persons, cal: Calendar) -> pl.DataFrame:
    """Residence permits granted 1997-01-01 up to the last day of the data."""
    lo = day_number(date(1997, 1, 1))
    frames = []
    for day, basis in ((p.permit_day, p.permit_basis), (p.second_permit_day, p.second_permit_basis)):
        rows = np.flatnonzero((day != NO_DAY) & (day >= lo) & (day <= cal.last_day))
        if len(rows) == 0:
            continue
        b = basis[rows]
        frames.append(
            pl.DataFrame(
                [
                    pl.Series("PNR", p.pnr[rows].tolist(), dtype=pl.Utf8),
                    _dates(day[rows]).alias("TILLADELSESDATO"),
                    _dates(p.arrival_day[rows]).alias("INDVANDRINGSDATO"),
                    pl.Series("GRUNDLAG", b.tolist(), dtype=pl.Utf8),
                    pl.Series("KATEGORI", [KATEGORI[x] for x in b], dtype=pl.Int16),
                ]
            )
        )
    if not frames:
        return empty_frame(contract.OPHG)
    return pl.concat(frames)


def rammevilkaar_frame(munis: Municipalities, fw: dict[str, np.ndarray], cal: Calendar, year: int) -> pl.DataFrame:
    j = year - cal.first_year
    cols = [
        pl.Series("KOM", munis.codes.astype(np.int16)),
        pl.Series("AAR", np.full(munis.n, year, np.int16)),
    ]
    for name in ("LEDIGHED_PENDLING", "JOB_PR_INDB", "ANDEL_IKKEVESTLIG", "ANDEL_INDUSTRI"):
        cols.append(pl.Series(name, fw[name][:, j].astype(float)))
    return pl.DataFrame(cols)


_DUCK_TO_POLARS = {
    "VARCHAR": pl.Utf8, "DATE": pl.Date, "SMALLINT": pl.Int16, "DOUBLE": pl.Float64,
}


def empty_frame(reg: contract.Register) -> pl.DataFrame:
    return pl.DataFrame(schema={c.name: _DUCK_TO_POLARS[c.dtype] for c in reg.columns})


def check_against_contract(df: pl.DataFrame, reg: contract.Register) -> None:
    """Raise if a generated table breaks the register contract (names and types)."""
    for c in reg.columns:
        if c.name not in df.columns:
            if c.required:
                raise ValueError(f"generated {reg.name}: required column {c.name!r} missing")
            continue
        want = _DUCK_TO_POLARS[c.dtype]
        if df.schema[c.name] != want:
            raise ValueError(f"generated {reg.name}: column {c.name!r} is {df.schema[c.name]}, contract says {c.dtype}")
    for name in df.columns:
        if name in reg.column_names:
            continue
        fam = reg.wide_family(name)
        if fam is None:
            raise ValueError(f"generated {reg.name}: column {name!r} is not in the contract")
        if df.schema[name] != _DUCK_TO_POLARS[fam.dtype]:
            raise ValueError(f"generated {reg.name}: column {name!r} is {df.schema[name]}, contract says {fam.dtype}")

