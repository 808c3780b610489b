"""Persons of one chunk: fixed characteristics drawn before the weekly simulation."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

import numpy as np
import polars as pl

from kommunebench import refdata
from kommunebench.synth.calendar import Calendar, day_number
from kommunebench.synth.municipalities import Municipalities
from kommunebench.synth.params import (
    ARRIVAL_WEIGHTS,
    G_DESC,
    G_DK,
    G_FAM,
    G_OLDIMM,
    G_OTHERIMM,
    G_REF,
    G_WEST,
    GROUP_SHARES,
    GROUPS,
    Behaviour,
)

NO_DAY = np.iinfo(np.int32).min  # "no date" in day-number arrays
PNR_MODULUS = 9_999_999_967  # the largest 10-digit prime: an affine map mod it is a bijection

# Origin countries per group (OPR_LAND, relative weight). Every code is in countries.csv;
# only codes whose western / non-western status is known are drawn (tested). The weights
# are the generator's modelling choice, not published frequencies. Codes marked
# unverified in countries.csv (the 52xx and 54xx codes named Syria, Afghanistan, ...) are
# drawn because no verified code exists for those origins; see reference/README.md.
# Substitutions made when the placeholder codes were replaced by verified ones (the
# same number of codes and weights per group, so the random draws are unchanged):
# Somalia (5334, in the Americas block 53xx) -> 5247 Namibia; Morocco (5352, 53xx) ->
# 5402 Yemen; Brazil (5356, 53xx) -> 5395 Vestindiske oer; stateless 5455 -> 5103
# Statsloes; Russia "5150" (5150 is Italy) -> 5151 Serbien og Montenegro or 5122
# Albanien; Ukraine "5153" (Malta) -> 5151; Bosnia "5128" (Bulgaria) -> 5152 Jugoslavien;
# Kosovo "5103" keeps the code, which is Statsloes.
COUNTRY_WEIGHTS: dict[str, dict[int, float]] = {
    "ref_early": {5432: 3, 5442: 3, 5448: 2, 5482: 1.5, 5247: 1, 5246: 0.7, 5103: 0.8, 5151: 0.4},
    "ref_late": {5482: 6, 5246: 3, 5432: 1.2, 5442: 0.8, 5448: 0.8, 5103: 1.5, 5247: 0.6, 5230: 0.4},
    "fam": {5172: 2, 5487: 2, 5484: 1.6, 5422: 1, 5482: 1.3, 5442: 1, 5432: 0.8, 5247: 0.6,
            5402: 0.8, 5431: 0.7, 5412: 0.7, 5122: 0.8, 5151: 0.8, 5395: 0.5, 5152: 0.4, 5103: 0.4},
    "oldimm": {5172: 3, 5442: 2, 5474: 1.5, 5152: 1.5, 5422: 1.2, 5247: 1.2, 5448: 1, 5431: 1,
               5424: 0.9, 5432: 0.8, 5402: 0.8, 5103: 0.6, 5482: 0.4, 5230: 0.3},
    "otherimm": {5412: 2, 5484: 1.5, 5151: 1.5, 5122: 1, 5395: 1, 5487: 0.8, 5431: 0.6},
    "west": {5120: 2, 5110: 1.5, 5180: 3, 5170: 2, 5154: 3, 5390: 1},
}
#: Legal bases of permits (GRUNDLAG, ophg_grundlag.csv). The refugee and spouse bases are
#: unverified placeholders (DST's numeric codes could not be read); the work and EU
#: bases are DST's verified codes (18 Specialister mv., 14 Loenarbejde - de nye EU-sager).
WORK_BASIS = "18"
EU_BASIS = "14"
SPOUSE_BASIS = "9_1_1"
REF_BASES_BEFORE_2015 = {"7_1": 0.5, "7_2": 0.35, "8_1": 0.15}
REF_BASES_FROM_2015 = {"7_1": 0.25, "7_2": 0.2, "7_3": 0.45, "8_1": 0.1}
OTHERIMM_BASES = {WORK_BASIS: 0.45, "9I": 0.3, "9_1_2": 0.25}
OLDIMM_BASES = {"7_1": 0.3, "7_2": 0.1, "8_1": 0.05, SPOUSE_BASIS: 0.4, "9_1_2": 0.15}
#: HFAUDD codes per true education level (hfaudd_codes.csv). Level 1: DST's verified
#: grundskole codes (9., 10. and 8. klasse). Levels 2-6: synthetic placeholders outside
#: DST's 4-digit code range (no real code of these levels could be verified), so they
#: never match a real extract.
HFAUDD_CODES: dict[int, tuple[int, ...]] = {
    1: (1009, 1010, 1008), 2: (12001, 12002), 3: (13001, 13002, 13003), 4: (14001, 14002),
    5: (15001, 15002, 15003), 6: (16001, 16002, 16003),
}
OTHER_CODES = ("299", "411", "511", "521", "893")
EDU_CODES = ("651", "652")
CIVST_CODES = ("G", "U", "F", "E", "L", "O", "P")


@dataclass
class Persons:
    """Column arrays, one element per person of the chunk."""

    index: np.ndarray  # global person number
    pnr: np.ndarray  # str
    group: np.ndarray  # int8, see params.GROUPS
    female: np.ndarray  # bool
    birth_day: np.ndarray  # int32 day number
    country: np.ndarray  # int16 OPR_LAND
    citizenship: np.ndarray  # int16
    herkomst: np.ndarray  # int8
    ie_type: np.ndarray  # int8
    arrival_day: np.ndarray  # int32, NO_DAY for persons born in Denmark
    latest_arrival_day: np.ndarray  # int32
    permit_day: np.ndarray  # int32, NO_DAY if no permit since 1997
    permit_basis: np.ndarray  # str ('' none)
    second_permit_day: np.ndarray  # int32
    second_permit_basis: np.ndarray  # str
    kom0: np.ndarray  # int32 municipality index on arrival / at start
    edu_level: np.ndarray  # int8 true level 0-6
    edu_known: np.ndarray  # bool: registered in UDDA
    hfaudd: np.ndarray  # int16
    health: np.ndarray  # float
    frailty: np.ndarray  # float
    kids0: np.ndarray  # int8
    civst0: np.ndarray  # int8 index into CIVST_CODES
    weak: np.ndarray  # bool
    stuck: np.ndarray  # bool
    home: np.ndarray  # bool
    insured: np.ndarray  # bool: unemployment insurance (a-kasse) member
    intpgm_start_day: np.ndarray  # int32
    intpgm_end_day: np.ndarray  # int32 (planned)
    edu_code: np.ndarray  # str '651' / '652'
    other_code: np.ndarray  # str

    @property
    def n(self) -> int:
        return len(self.index)

    def take(self, idx: np.ndarray) -> Persons:
        """The persons at positions ``idx`` (copies of every column)."""
        return Persons(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def group_counts(n: int) -> np.ndarray:
    """Persons per group for ``n`` persons: largest-remainder rounding of GROUP_SHARES."""
    shares = np.array([GROUP_SHARES[g] for g in GROUPS])
    shares = shares / shares.sum()
    raw = shares * n
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def pnr_numbers(index: np.ndarray, seed: int) -> np.ndarray:
    """Pseudonymised person numbers: an affine bijection of the index mod a prime."""
    rng = np.random.default_rng([seed, 0x504E52])
    a = int(rng.integers(10**9, PNR_MODULUS - 1))
    b = int(rng.integers(0, PNR_MODULUS - 1))
    return (index.astype(np.int64) * a + b) % PNR_MODULUS


def _choice(rng: np.random.Generator, weights: dict, size: int) -> np.ndarray:
    keys = np.array(list(weights.keys()))
    p = np.array(list(weights.values()), dtype=float)
    return keys[rng.choice(len(keys), size=size, p=p / p.sum())]


def _day_in_year(rng: np.random.Generator, years: np.ndarray) -> np.ndarray:
    start = np.array([day_number(date(int(y), 1, 1)) for y in years], dtype=np.int64) if len(years) else np.zeros(0, np.int64)
    return (start + rng.integers(0, 365, len(years))).astype(np.int32)


def _days_from_years(years_float: np.ndarray) -> np.ndarray:
    """Fractional calendar year (e.g. 1985.4) to a day number."""
    return np.round((years_float - 1970.0) * 365.2425).astype(np.int32)


def _arrival_years(rng: np.random.Generator, group: str, cal: Calendar, size: int) -> np.ndarray:
    w = ARRIVAL_WEIGHTS[group]
    years = np.array(list(cal.years))
    p = np.array([w.get(int(y), w["default"]) for y in years], dtype=float)
    return years[rng.choice(len(years), size=size, p=p / p.sum())]


def municipality_weights(munis: Municipalities) -> dict[int, np.ndarray]:
    """Where each group lives: population x share of non-western residents ^ alpha."""
    pop, nw = munis.population, munis.nonwestern_pct
    alpha = {G_DK: -0.3, G_WEST: 0.3, G_DESC: 1.3, G_OLDIMM: 1.3, G_OTHERIMM: 0.5, G_REF: -0.3, G_FAM: 1.2}
    out = {}
    for g, a in alpha.items():
        w = pop * nw**a
        out[g] = w / w.sum()
    return out


def make_persons(
    start: int,
    n: int,
    cal: Calendar,
    munis: Municipalities,
    beh: Behaviour,
    rng: np.random.Generator,
    seed: int,
) -> Persons:
    """Draw the fixed characteristics of persons ``start``..``start + n - 1``."""
    counts = group_counts(n)
    group = rng.permutation(np.repeat(np.arange(len(GROUPS), dtype=np.int8), counts))
    index = np.arange(start, start + n, dtype=np.int64)
    pnr = np.char.zfill(pnr_numbers(index, seed).astype(str), 10).astype(object)

    first_day = cal.first_day
    ref_year0 = cal.first_year
    female = np.zeros(n, bool)
    birth = np.zeros(n, np.int32)
    country = np.full(n, 5100, np.int16)
    arrival = np.full(n, NO_DAY, np.int32)
    permit = np.full(n, NO_DAY, np.int32)
    basis = np.full(n, "", object)
    permit2 = np.full(n, NO_DAY, np.int32)
    basis2 = np.full(n, "", object)
    herkomst = np.ones(n, np.int8)
    ie_type = np.ones(n, np.int8)
    weak = np.zeros(n, bool)
    home = np.zeros(n, bool)
    insured = np.zeros(n, bool)
    u = rng.random(n)

    def sel(g: int) -> np.ndarray:
        return np.flatnonzero(group == g)

    # Danes: born 1940-1992
    i = sel(G_DK)
    female[i] = rng.random(len(i)) < 0.5
    birth[i] = _days_from_years(rng.uniform(1942, 1992, len(i)))
    insured[i] = rng.random(len(i)) < 0.8

    # Descendants of non-western immigrants: born in Denmark 1975-1995
    i = sel(G_DESC)
    female[i] = rng.random(len(i)) < 0.5
    birth[i] = _days_from_years(rng.uniform(1975, 1995, len(i)))
    country[i] = _choice(rng, COUNTRY_WEIGHTS["oldimm"], len(i))
    herkomst[i], ie_type[i] = 5, 3
    insured[i] = rng.random(len(i)) < 0.45

    # Western immigrants: arrived 1990 to the last year; some with an EU permit
    i = sel(G_WEST)
    female[i] = rng.random(len(i)) < 0.45
    arr_year = rng.uniform(1990, cal.last_year + 1, len(i))
    age_arr = 22 + rng.gamma(2.0, 5.0, len(i))
    arrival[i] = _days_from_years(arr_year)
    birth[i] = _days_from_years(arr_year - age_arr)
    country[i] = _choice(rng, COUNTRY_WEIGHTS["west"], len(i))
    herkomst[i], ie_type[i] = 2, 2
    insured[i] = rng.random(len(i)) < 0.55
    has = (arr_year >= 1997) & (rng.random(len(i)) < 0.6)
    permit[i[has]] = arrival[i[has]] - rng.integers(0, 30, has.sum()).astype(np.int32)
    basis[i[has]] = np.where(country[i[has]] == 5390, WORK_BASIS, EU_BASIS)

    # Established non-western immigrants: arrived 1980-2007, aged 25-64 in the first year
    i = sel(G_OLDIMM)
    female[i] = rng.random(len(i)) < 0.55
    age0 = rng.uniform(25, 64, len(i))
    birth[i] = _days_from_years(ref_year0 - age0)
    earliest = np.maximum(1980.0, ref_year0 - age0 + 16)
    arr_year = earliest + rng.random(len(i)) * np.maximum(min(2007.9, ref_year0 - 0.1) - earliest, 0.1)
    arrival[i] = _days_from_years(arr_year)
    country[i] = _choice(rng, COUNTRY_WEIGHTS["oldimm"], len(i))
    herkomst[i], ie_type[i] = 3, 2
    weak[i] = rng.random(len(i)) < beh.weak_share_oldimm
    insured[i] = ~weak[i] & (rng.random(len(i)) < 0.45)
    has = arr_year >= 1997
    permit[i[has]] = arrival[i[has]] - rng.integers(0, 200, has.sum()).astype(np.int32)
    basis[i[has]] = _choice(rng, OLDIMM_BASES, int(has.sum()))

    # New non-western immigrants on work, study or child permits
    i = sel(G_OTHERIMM)
    female[i] = rng.random(len(i)) < 0.5
    basis[i] = _choice(rng, OTHERIMM_BASES, len(i))
    permit[i] = _day_in_year(rng, _arrival_years(rng, "otherimm", cal, len(i)))
    arrival[i] = permit[i] + rng.integers(0, 60, len(i)).astype(np.int32)
    child = basis[i] == "9_1_2"
    age_arr = np.where(child, rng.uniform(4, 17.9, len(i)), 21 + rng.gamma(2.0, 4.0, len(i)))
    birth[i] = arrival[i] - np.round(age_arr * 365.2425).astype(np.int32)
    country[i] = _choice(rng, COUNTRY_WEIGHTS["otherimm"], len(i))
    herkomst[i], ie_type[i] = 3, 2

    # Refugees
    i = sel(G_REF)
    female[i] = rng.random(len(i)) < 0.40
    years = _arrival_years(rng, "ref", cal, len(i))
    permit[i] = _day_in_year(rng, years)
    arrival[i] = permit[i] + (7 * rng.integers(0, 3, len(i))).astype(np.int32)
    ua = rng.random(len(i))
    age_p = np.where(
        ua < 0.82,
        np.minimum(18 + rng.gamma(2.2, 6.0, len(i)), 64.9),
        np.where(ua < 0.96, rng.uniform(15, 17.99, len(i)), rng.uniform(65, 75, len(i))),
    )
    birth[i] = permit[i] - np.round(age_p * 365.2425).astype(np.int32)
    late = years >= 2013
    country[i] = np.where(
        late,
        _choice(rng, COUNTRY_WEIGHTS["ref_late"], len(i)),
        _choice(rng, COUNTRY_WEIGHTS["ref_early"], len(i)),
    )
    basis[i] = np.where(
        years >= 2015,
        _choice(rng, REF_BASES_FROM_2015, len(i)),
        _choice(rng, REF_BASES_BEFORE_2015, len(i)),
    )
    herkomst[i], ie_type[i] = 3, 2
    weak[i] = rng.random(len(i)) < beh.weak_share_ref
    home[i] = female[i] & (rng.random(len(i)) < beh.home_share_ref_women)
    # some temporary protection permits (7_3) are later replaced by a convention permit
    re = (basis[i] == "7_3") & (rng.random(len(i)) < 0.15)
    permit2[i[re]] = permit[i[re]] + rng.integers(365, 3 * 365, re.sum()).astype(np.int32)
    basis2[i[re]] = "7_1"
    insured[i] = False

    # Family-reunified spouses
    i = sel(G_FAM)
    female[i] = rng.random(len(i)) < 0.75
    years = _arrival_years(rng, "fam", cal, len(i))
    permit[i] = _day_in_year(rng, years)
    arrival[i] = permit[i] + rng.integers(0, 60, len(i)).astype(np.int32)
    ua = rng.random(len(i))
    age_p = np.where(ua < 0.95, np.minimum(24 + rng.gamma(1.8, 4.5, len(i)), 64.9), rng.uniform(65, 72, len(i)))
    birth[i] = permit[i] - np.round(age_p * 365.2425).astype(np.int32)
    country[i] = _choice(rng, COUNTRY_WEIGHTS["fam"], len(i))
    basis[i] = SPOUSE_BASIS
    herkomst[i], ie_type[i] = 3, 2
    weak[i] = rng.random(len(i)) < beh.weak_share_fam
    home[i] = rng.random(len(i)) < beh.home_share_fam
    insured[i] = False

    # Stateless persons are citizens of nowhere; naturalisation after many years
    years_in_dk_last = np.where(arrival == NO_DAY, 99.0, (cal.last_day - arrival) / 365.2425)
    naturalised = (ie_type == 2) & (herkomst == 3) & (years_in_dk_last > 12) & (rng.random(n) < 0.45)
    citizenship = np.where((ie_type == 3) & (rng.random(n) < 0.7), 5100, country).astype(np.int16)
    citizenship = np.where(naturalised, 5100, citizenship).astype(np.int16)
    citizenship = np.where(herkomst == 1, 5100, citizenship).astype(np.int16)

    latest = arrival.copy()
    reimm = (arrival != NO_DAY) & (arrival < first_day - 800) & (rng.random(n) < 0.05)
    latest[reimm] = arrival[reimm] + rng.integers(200, 700, reimm.sum()).astype(np.int32)

    # Municipality on arrival (or at the start)
    mw = municipality_weights(munis)
    kom0 = np.zeros(n, np.int32)
    for g, w in mw.items():
        i = sel(g)
        kom0[i] = rng.choice(munis.n, size=len(i), p=w)

    # Education: true level and whether Statistics Denmark knows it
    edu = np.zeros(n, np.int8)
    known = np.zeros(n, bool)
    level_probs = {
        G_DK: (0.0, 0.2, 0.12, 0.35, 0.06, 0.17, 0.10),
        G_DESC: (0.0, 0.3, 0.2, 0.25, 0.05, 0.12, 0.08),
        G_WEST: (0.0, 0.1, 0.15, 0.2, 0.1, 0.25, 0.2),
        G_OLDIMM: (0.0, 0.45, 0.12, 0.2, 0.05, 0.1, 0.08),
        G_OTHERIMM: (0.0, 0.15, 0.2, 0.15, 0.1, 0.25, 0.15),
        G_REF: (0.0, 0.5, 0.15, 0.12, 0.05, 0.1, 0.08),
        G_FAM: (0.0, 0.4, 0.2, 0.15, 0.05, 0.12, 0.08),
    }
    known_prob = {G_DK: 0.98, G_DESC: 0.97, G_WEST: 0.5, G_OLDIMM: 0.45, G_OTHERIMM: 0.3, G_REF: 0.3, G_FAM: 0.3}
    for g, probs in level_probs.items():
        i = sel(g)
        edu[i] = rng.choice(7, size=len(i), p=np.array(probs) / sum(probs))
        known[i] = rng.random(len(i)) < known_prob[g]
    edu[weak] = np.minimum(edu[weak], np.where(rng.random(int(weak.sum())) < 0.7, 1, 3)).astype(np.int8)
    hfaudd = np.zeros(n, np.int16)
    pick = rng.random(n)
    for lvl, codes in HFAUDD_CODES.items():
        m = edu == lvl
        hfaudd[m] = np.array(codes, dtype=np.int16)[(pick[m] * len(codes)).astype(int)]

    # Health, frailty, children, civil status
    health = rng.standard_normal(n)
    health[weak] -= 0.8
    frailty = rng.normal(0.0, beh.frailty_sd, n)
    age_start = (np.maximum(first_day, np.where(arrival == NO_DAY, first_day, arrival)) - birth) / 365.2425
    kid_rate = np.where(herkomst == 3, 2.2, 1.4) * np.clip((age_start - 20) / 15, 0, 1)
    kids0 = np.minimum(rng.poisson(kid_rate), 8).astype(np.int8)
    civ = np.where(age_start < 23, 1, np.where(u < 0.6, 0, np.where(u < 0.8, 1, np.where(u < 0.93, 2, 3))))
    civ = np.where(group == G_FAM, np.where(rng.random(n) < 0.92, 0, 1), civ)
    civ = np.where((civ == 0) & (rng.random(n) < 0.01), 4, civ)  # registered partnership
    civst0 = civ.astype(np.int8)

    stuck = weak & (rng.random(n) < beh.stuck_share_weak) & (group == G_OLDIMM)

    # Integration programme: adults arriving as refugees or spouses, covered by the act
    intpgm_start = np.full(n, NO_DAY, np.int32)
    intpgm_end = np.full(n, NO_DAY, np.int32)
    age_at_permit = (permit - birth) / 365.2425
    cover = np.isin(group, [G_REF, G_FAM]) & (age_at_permit >= 18) & (rng.random(n) < beh.integration_act_share)
    lag = np.where(group == G_REF, 7 * rng.poisson(2.5, n), 7 * rng.poisson(5, n)).astype(np.int32)
    intpgm_start[cover] = np.maximum(arrival[cover], permit[cover]) + lag[cover]
    years_prog = np.where(rng.random(n) < 0.75, 3, np.where(rng.random(n) < 0.5, 4, 5))
    intpgm_end[cover] = intpgm_start[cover] + np.round(years_prog[cover] * 365.25).astype(np.int32)

    edu_code = np.where(rng.random(n) < 0.8, EDU_CODES[0], EDU_CODES[1]).astype(object)
    other_code = np.array(OTHER_CODES, dtype=object)[rng.integers(0, len(OTHER_CODES), n)]

    return Persons(
        index=index, pnr=pnr, group=group, female=female, birth_day=birth, country=country,
        citizenship=citizenship, herkomst=herkomst, ie_type=ie_type, arrival_day=arrival,
        latest_arrival_day=latest, permit_day=permit, permit_basis=basis,
        second_permit_day=permit2, second_permit_basis=basis2, kom0=kom0, edu_level=edu,
        edu_known=known, hfaudd=hfaudd, health=health, frailty=frailty, kids0=kids0,
        civst0=civst0, weak=weak, stuck=stuck, home=home, insured=insured,
        intpgm_start_day=intpgm_start, intpgm_end_day=intpgm_end, edu_code=edu_code,
        other_code=other_code,
    )


def countries_known() -> set[int]:
    return set(refdata.countries()["OPR_LAND"].to_list())


def used_countries() -> set[int]:
    return {c for w in COUNTRY_WEIGHTS.values() for c in w} | {5100}


def used_permit_bases() -> set[str]:
    return (set(REF_BASES_BEFORE_2015) | set(REF_BASES_FROM_2015) | set(OTHERIMM_BASES) | set(OLDIMM_BASES)
            | {SPOUSE_BASIS, EU_BASIS, WORK_BASIS, "7_1"})


def check_reference_codes() -> None:
    """Every country, permit basis and education code used here must be in the reference tables."""
    known = countries_known()
    used = used_countries()
    if used - known:
        raise ValueError(f"countries.csv: column 'OPR_LAND': codes {sorted(used - known)} used by the generator are missing")
    ctry = refdata.countries().filter(pl.col("OPR_LAND").is_in(sorted(used)) & pl.col("western").is_null())
    if ctry.height:
        raise ValueError(f"countries.csv: column 'western': codes {ctry['OPR_LAND'].to_list()} used by the generator have no western flag")
    bases = set(refdata.ophg_grundlag()["GRUNDLAG"].to_list())
    used_b = used_permit_bases()
    if used_b - bases:
        raise ValueError(f"ophg_grundlag.csv: column 'GRUNDLAG': codes {sorted(used_b - bases)} used by the generator are missing")
    edu = refdata.hfaudd_codes()
    level = dict(zip(edu["HFAUDD"].to_list(), edu["level"].to_list()))
    wrong = sorted(c for lvl, codes in HFAUDD_CODES.items() for c in codes if level.get(c) != lvl)
    if wrong:
        raise ValueError(f"hfaudd_codes.csv: column 'HFAUDD': codes {wrong} used by the generator are missing or of another level")
