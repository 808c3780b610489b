"""``generate``: write a synthetic landing folder and its planted truth."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from kommunebench import contract, refdata
from kommunebench.landing import ENCODINGS, write_table
from kommunebench.synth.calendar import make_calendar
from kommunebench.synth.municipalities import (
    FRAMEWORK_CENTRES,
    FRAMEWORK_COEFFICIENTS,
    SIZES_PATH,
    TARGET_GROUPS,
    framework_conditions,
    framework_log_hazard,
    load_municipalities,
    municipality_effects,
)
from kommunebench.synth.params import ARRIVAL_WEIGHTS, GROUP_SHARES, GROUPS, Behaviour
from kommunebench.synth.crng import CounterRNG
from kommunebench.synth.population import check_reference_codes, make_persons
from kommunebench.synth.process import DEAD, EMIG, GONE, MATERN, PENSION, assessment_values, simulate_chunk, simulate_counterfactual, weak_assessment
from kommunebench.synth.registers import (
    CodeTable,
    assessments,
    sim_state_codes,
    bef_frame,
    check_against_contract,
    dream_frame,
    ophg_frame,
    rammevilkaar_frame,
    udda_frame,
)
from kommunebench.synth.truth import (
    Members,
    framework_truth,
    Outcome,
    Pairs,
    concat_outcomes,
    pair_outcomes,
    take_outcome,
    TruthSettings,
    counterfactual_windows,
    delivered_windows,
    find_members,
    outcomes,
    state_lut,
    truth_table,
)

GENERATOR_VERSION = "3"
#: National size: cohorts as large as the real ones (bench/calibration/SIZES.md).
NATIONAL_N_PERSONS = 150_000
#: Default size: the national size. Smaller worlds too often cannot tell the municipalities'
#: spread from 0 (bench/calibration/VARIANCE_SEEDS.md), and the run still takes a few minutes.
DEFAULT_N_PERSONS = NATIONAL_N_PERSONS
_STREAM_MUNI, _STREAM_PERSONS, _STREAM_SIM, _STREAM_ASSESS = 1, 2, 3, 4
EFFECT_LAWS = ("normal", "t3", "mixture")


@dataclass(frozen=True)
class GeneratedFile:
    register: str
    path: str  # relative to out_dir, with forward slashes
    rows: int
    sha256: str


@dataclass(frozen=True)
class GenerateSummary:
    out_dir: Path
    truth_dir: Path
    n_persons: int
    seed: int
    first_year: int
    last_year: int
    fmt: str
    files: tuple[GeneratedFile, ...]
    persons_per_group: dict[str, int]
    seconds: float
    truth_files: tuple[str, ...] = field(default_factory=tuple)

    def rows(self, register: str) -> int:
        return sum(f.rows for f in self.files if f.register == register)


def _validate(out_dir: Path, truth_dir: Path, n_persons: int, first_year: int, last_year: int,
              fmt: str, csv_encoding: str, chunk_size: int) -> None:
    if n_persons < 1:
        raise ValueError(f"n_persons must be at least 1, got {n_persons}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if fmt not in contract.FORMATS:
        raise ValueError(f"fmt must be one of {contract.FORMATS}, got {fmt!r}")
    if csv_encoding not in ENCODINGS:
        raise ValueError(f"csv_encoding must be one of {ENCODINGS}, got {csv_encoding!r}")
    if last_year - first_year < 0:
        raise ValueError(f"last_year ({last_year}) must not be before first_year ({first_year})")
    o, t = out_dir.resolve(), truth_dir.resolve()
    if t == o or o in t.parents:
        raise ValueError(f"truth_dir {truth_dir} must lie outside out_dir {out_dir}: the pipeline never reads the truth")


def _clear_landing(out_dir: Path) -> None:
    """Remove earlier generated register files so no stale part is left behind."""
    for reg in contract.REGISTERS:
        folder = out_dir / reg
        if folder.is_dir():
            for f in folder.iterdir():
                if f.is_file() and f.suffix.lower().lstrip(".") in contract.FORMATS:
                    f.unlink()


def generate(
    out_dir: Path,
    *,
    n_persons: int = DEFAULT_N_PERSONS,
    seed: int,
    first_year: int = 2008,
    last_year: int = 2018,
    fmt: str = "parquet",
    csv_encoding: str = "utf-8",
    truth_dir: Path | None = None,
    chunk_size: int = 50_000,
    progress: bool = True,
    behaviour: Behaviour | None = None,
    truth_settings: TruthSettings | None = None,
    with_truth: bool = True,
    truth_replicates: int = 2,
) -> GenerateSummary:
    """Write synthetic DREAM, BEF, OPHG, UDDA and RAMMEVILKAAR files and the planted truth.

    Layout (``kommunebench.contract``): ``out_dir/DREAM/DREAM.<fmt>`` (or
    ``DREAM_part01``... when ``n_persons > chunk_size``: disjoint sets of persons),
    ``out_dir/BEF/BEF<yyyy>``, ``out_dir/OPHG/OPHG``, ``out_dir/UDDA/UDDA<yyyy>``,
    ``out_dir/RAMMEVILKAAR/RAMMEVILKAAR<yyyy>``. The truth goes to ``truth_dir``
    (default ``out_dir.parent / "truth"``): ``municipality_effects.parquet``,
    ``framework_log_hazard.parquet`` and ``truth.json``.

    The same arguments give byte-identical files; persons are simulated in chunks of
    ``chunk_size`` (each chunk with its own random stream derived from ``seed``), so
    memory is bounded by the chunk size and the output depends on ``chunk_size`` too.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    truth_dir = Path(truth_dir) if truth_dir is not None else out_dir.parent / "truth"
    _validate(out_dir, truth_dir, n_persons, first_year, last_year, fmt, csv_encoding, chunk_size)
    beh = behaviour or Behaviour()
    check_reference_codes()
    codes = CodeTable.from_codebook()
    cal = make_calendar(first_year, last_year)
    munis = load_municipalities()

    rng_m = np.random.default_rng([seed, _STREAM_MUNI])
    fw = framework_conditions(munis, cal.years, rng_m)
    fw_lh = framework_log_hazard(fw)
    u_job, u_act = municipality_effects(
        munis.n, rng_m, job_sd=beh.job_effect_sd, activation_sd=beh.activation_effect_sd,
        rho_groups=beh.rho_groups, rho_job_activation=beh.rho_job_activation, law=beh.effect_law,
    )
    crng = CounterRNG(seed, _STREAM_SIM)
    ts = truth_settings or TruthSettings()
    lut = state_lut(sim_state_codes(), ts)
    western = dict(zip(refdata.countries()["OPR_LAND"].to_list(), refdata.countries()["western"].to_list()))

    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_landing(out_dir)
    n_chunks = -(-n_persons // chunk_size)
    files: list[GeneratedFile] = []

    def write(reg: contract.Register, df: pl.DataFrame, stem: str) -> None:
        check_against_contract(df, reg)
        path = out_dir / reg.name / f"{stem}.{fmt}"
        write_table(df, path, encoding=csv_encoding)
        files.append(GeneratedFile(reg.name, f"{reg.name}/{path.name}", df.height, refdata.file_sha256(path)))

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_chunks * cal.n_weeks, unit="week", desc="simulating", leave=False)
    per_group = np.zeros(len(GROUPS), np.int64)
    bef_parts: dict[int, list[pl.DataFrame]] = {y: [] for y in cal.years}
    udda_parts: dict[int, list[pl.DataFrame]] = {y: [] for y in cal.years}
    ophg_parts: list[pl.DataFrame] = []
    member_parts: list[tuple] = []
    try:
        for k in range(n_chunks):
            start = k * chunk_size
            n = min(chunk_size, n_persons - start)
            rng_p = np.random.default_rng([seed, _STREAM_PERSONS, k])
            persons = make_persons(start, n, cal, munis, beh, rng_p, seed)
            per_group += np.bincount(persons.group, minlength=len(GROUPS))
            values = assessment_values(persons, cal, np.random.default_rng([seed, _STREAM_ASSESS, k]))
            weak_q = weak_assessment(values, cal)
            nonwestern = ~np.array([bool(western[int(c)]) for c in persons.country])
            hist = simulate_chunk(
                persons, cal, munis, u_job, u_act, fw_lh, beh, crng, weak_q, nonwestern,
                on_week=(lambda: bar.update(1)) if bar is not None else None,
            )
            assess = assessments(values, hist, cal)
            dream = dream_frame(persons, hist, cal, munis, assess, codes)
            stem = "DREAM" if n_chunks == 1 else f"DREAM_part{k + 1:0{max(2, len(str(n_chunks)))}d}"
            if bar is not None:
                bar.set_description(f"writing {stem}")
            write(contract.DREAM, dream, stem)
            del dream
            for y in cal.years:
                bef_parts[y].append(bef_frame(persons, hist, cal, munis, y))
                udda_parts[y].append(udda_frame(persons, hist, cal, y))
            ophg_parts.append(ophg_frame(persons, cal))
            if with_truth:
                if bar is not None:
                    bar.set_description("counterfactual")
                member_parts.append(_chunk_truth(persons, hist, cal, munis, u_job, u_act, fw_lh, fw, beh, crng,
                                                 weak_q, nonwestern, assess, lut, ts, truth_replicates))
            del hist
            if bar is not None:
                bar.set_description("simulating")
    finally:
        if bar is not None:
            bar.close()

    for y in cal.years:
        write(contract.BEF, pl.concat(bef_parts.pop(y)), f"BEF{y}")
        write(contract.UDDA, pl.concat(udda_parts.pop(y)), f"UDDA{y}")
        write(contract.RAMMEVILKAAR, rammevilkaar_frame(munis, fw, cal, y), f"RAMMEVILKAAR{y}")
    ophg = pl.concat(ophg_parts).sort(["PNR", "TILLADELSESDATO"])
    write(contract.OPHG, ophg, "OPHG")

    persons_per_group = {g: int(c) for g, c in zip(GROUPS, per_group)}
    truth_files = _write_truth(
        truth_dir, munis, cal, u_job, u_act, fw_lh, beh,
        settings={
            "n_persons": n_persons, "seed": seed, "first_year": first_year, "last_year": last_year,
            "fmt": fmt, "csv_encoding": csv_encoding, "chunk_size": chunk_size,
        },
        persons_per_group=persons_per_group,
    )
    if with_truth:
        truth_files += _write_counterfactual_truth(truth_dir, member_parts, munis, ts)
    return GenerateSummary(
        out_dir=out_dir, truth_dir=truth_dir, n_persons=n_persons, seed=seed,
        first_year=first_year, last_year=last_year, fmt=fmt, files=tuple(files),
        persons_per_group=persons_per_group, seconds=time.perf_counter() - t0,
        truth_files=truth_files,
    )


def _chunk_truth(persons, hist, cal, munis, u_job, u_act, fw_lh, fw, beh, crng, weak_q, nonwestern, assess, lut,
                 ts: TruthSettings, replicates: int) -> tuple[Members, Pairs, np.ndarray, Outcome, Outcome, np.ndarray]:
    """Members of one chunk, their outcomes in the replicate pairs of worlds, per target group
    (weeks on support in the follow-up, of which with a municipality effect acting), and the
    delivered and framework-free outcomes with each member's framework conditions at entry."""
    members = find_members(persons, hist, cal, assess, lut, nonwestern, ts)
    L = ts.window
    follow = np.array([ts.followup(int(g)) for g in members.group], np.int64)
    s1, j1, v1 = delivered_windows(hist, cal, members, L, lut)
    delivered = outcomes(s1, j1, v1, follow, lut, ts.run_length)
    fwin = simulate_counterfactual(
        persons, members.row, members.start_week, L, cal, munis, u_job, u_act, fw_lh, beh, crng,
        weak_q, nonwestern, replicates=replicates, check_states=hist.states, framework_copy=True,
        redraw_fork_week=members.group != 0,  # permit groups: the effect acts from the arrival week on
    )
    sc, jc, vc = counterfactual_windows(fwin, cal, lut)
    copies = outcomes(sc, jc, vc, follow[fwin.member], lut, ts.run_length)
    pairs = pair_outcomes(delivered, copies, fwin)
    no_fw = take_outcome(copies, np.flatnonzero(fwin.world == 2))
    entry_year = cal.week_year_idx[members.start_week]
    fw_values = np.column_stack([fw[name][members.kom, entry_year] for name in FRAMEWORK_COEFFICIENTS])
    # does the effect act on every member whenever on support during the follow-up? The
    # hazards of week w act on the state held when the week begins (recorded in week w - 1);
    # weeks in which the person dies, emigrates, retires at 65 or goes on maternity leave are left
    # out (these happen before any hazard acts)
    weeks = members.start_week[:, None] + np.arange(1, L)[None, :]
    inside = (weeks < cal.n_weeks) & (np.arange(2, L + 1)[None, :] <= follow[:, None])
    w = np.minimum(weeks, cal.n_weeks - 1)
    leaving = np.isin(s1[:, 1:], (EMIG, DEAD, GONE, PENSION, MATERN))
    on_support = lut.support[s1[:, :-1]] & inside & ~leaving
    acting = hist.effect[w, members.row[:, None]] & on_support
    coverage = np.zeros((3, 2), np.int64)
    np.add.at(coverage, (members.group, 0), on_support.sum(axis=1))
    np.add.at(coverage, (members.group, 1), acting.sum(axis=1))
    return members, pairs, coverage, delivered, no_fw, fw_values


def _write_counterfactual_truth(truth_dir: Path, parts: list, munis, ts: TruthSettings) -> tuple[str, ...]:
    """``benchmark_truth.parquet``: the truth on the benchmark's scale (``synth.truth``)."""
    members = Members(*(np.concatenate([getattr(p[0], f) for p in parts]) for f in ("row", "group", "cohort_year", "start_week", "kom")))
    R = parts[0][1].replicates
    ks = [len(p[0]) for p in parts]

    def stack(which: str) -> Outcome:
        # replicate-major over all chunks: for each replicate, the members of every chunk in order
        out = []
        for r in range(R):
            for p, k in zip(parts, ks):
                out.append(take_outcome(getattr(p[1], which), np.arange(r * k, (r + 1) * k)))
        return concat_outcomes(out)

    pairs = Pairs(stack("one"), stack("zero"), R)
    table, per_replicate = truth_table(members, pairs, munis.codes, ts)
    table.write_parquet(truth_dir / "benchmark_truth.parquet", compression="zstd")
    per_replicate.write_parquet(truth_dir / "benchmark_truth_replicates.parquet", compression="zstd")
    fw_truth = framework_truth(members, concat_outcomes([p[3] for p in parts]), concat_outcomes([p[4] for p in parts]),
                               np.concatenate([p[5] for p in parts]), list(FRAMEWORK_COEFFICIENTS), ts)
    fw_truth.write_parquet(truth_dir / "framework_truth.parquet", compression="zstd")
    coverage = sum(p[2] for p in parts)
    doc = json.loads((truth_dir / "truth.json").read_text(encoding="utf-8"))
    doc["benchmark_truth"] = {
        "file": "benchmark_truth.parquet",
        "cohort_years": list(ts.cohort_years),
        "replicates": R,
        "settings": asdict(ts),
        "members": {g: int((members.group == i).sum()) for i, g in enumerate(TARGET_GROUPS)},
        "members_per_cohort_year": {
            g: {str(c): int(((members.group == i) & (members.cohort_year == c)).sum()) for c in ts.cohort_years}
            for i, g in enumerate(TARGET_GROUPS)
        },
        "support_weeks_with_effect": {
            g: {"support_weeks": int(coverage[i, 0]), "with_effect": int(coverage[i, 1])} for i, g in enumerate(TARGET_GROUPS)
        },
        "columns": {
            "log_rate_ratio": "log(O1/L1) - log(O0/L0) pooled over the replicate pairs: O events within the follow-up, "
                              "L summed counterfactual cumulative hazard (Nelson-Aalen per group x cohort year) at each "
                              "person's observed time; 1 = effects as planted, 0 = the same persons and random numbers "
                              "with every municipality effect set to 0 from the clock start",
            "log_rate_ratio_mc_se": "Monte Carlo standard error of log_rate_ratio: jackknife over the replicate pairs "
                                    "(their sums are in benchmark_truth_replicates.parquet)",
            "pct_faster": "100 sign(theta) (1 - exp(-|theta|)) of log_rate_ratio: the benchmark's headline scale",
            "weeks_faster": "Kaplan-Meier restricted mean within the follow-up, counterfactual minus planted",
            "gap_persons": "events within the follow-up per replicate, planted minus counterfactual",
            "framework_truth.parquet": "per group, measure and framework condition: coef_true, the slope of the "
                                       "framework conditions' effect on the benchmark's scale (delivered world against the "
                                       "same persons with the framework conditions no longer acting from the clock start, "
                                       "regressed on the units' mean conditions at entry); compare with "
                                       "benchmark.framework_effects",
            "expected_events_true": "the delivered world's summed cumulative hazard times the unit's counterfactual rate "
                                    "(sum over the fresh replicates r >= 1 of O0 / L0; replicate 0 shares the delivered world's random "
                                    "numbers and is left out; NaN with one replicate): what a perfect expected model would expect; "
                                    "log(events_delivered / expected_events_true) is the oracle estimate",
        },
    }
    (truth_dir / "truth.json").write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return ("benchmark_truth.parquet", "benchmark_truth_replicates.parquet", "framework_truth.parquet")


def _write_truth(truth_dir: Path, munis, cal, u_job, u_act, fw_lh, beh: Behaviour, *,
                 settings: dict, persons_per_group: dict[str, int]) -> tuple[str, ...]:
    truth_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for g, name in enumerate(TARGET_GROUPS):
        rows.append(
            pl.DataFrame(
                {
                    "KOM": munis.codes.astype(np.int16),
                    "navn": list(munis.names),
                    "target_group": [name] * munis.n,
                    "job_effect": u_job[:, g],
                    "activation_effect": u_act[:, g],
                    "framework_log_hazard_mean": fw_lh.mean(axis=1),
                }
            )
        )
    effects = pl.concat(rows)
    effects.write_parquet(truth_dir / "municipality_effects.parquet", compression="zstd")
    fw_rows = pl.DataFrame(
        {
            "KOM": np.repeat(munis.codes.astype(np.int16), len(cal.years)),
            "AAR": np.tile(np.array(list(cal.years), np.int16), munis.n),
            "framework_log_hazard": fw_lh.reshape(-1),
        }
    )
    fw_rows.write_parquet(truth_dir / "framework_log_hazard.parquet", compression="zstd")
    doc = {
        "generator": "kommunebench.synth",
        "generator_version": GENERATOR_VERSION,
        "settings": settings,
        "persons_per_group": persons_per_group,
        "target_groups": list(TARGET_GROUPS),
        "effects": {
            "job_effect": "true log-hazard effect of the municipality on job entry, per target group; "
                          "centred (unweighted mean 0 over the 98 municipalities)",
            "activation_effect": "true log-hazard effect on entering company internship or wage subsidy; centred",
            "framework_log_hazard": "sum over framework conditions of coefficient * (value - centre), "
                                    "acting on the job hazard of everyone in the municipality-year",
            "indirect_channel": "internship and wage subsidy raise the job hazard afterwards "
                                "(activation_boost_*) and lead to jobs directly (job_after), so a "
                                "municipality's total effect on success exceeds job_effect where "
                                "activation_effect is high",
            "group_assignment": "refugees carry the flygtninge effect, spouses familiesammenfoerte, "
                                "established immigrants with problems beyond unemployment "
                                "svage_indvandrere; refugees and spouses of the latent weak class "
                                "switch to svage_indvandrere from their third year in Denmark; "
                                "everybody else has no municipality effect",
        },
        "framework_coefficients": FRAMEWORK_COEFFICIENTS,
        "framework_centres": FRAMEWORK_CENTRES,
        "behaviour": asdict(beh),
        "group_shares": GROUP_SHARES,
        "arrival_weights": {g: {str(k): v for k, v in w.items()} for g, w in ARRIVAL_WEIGHTS.items()},
        "municipality_sizes_source": str(SIZES_PATH.name),
        "reference_checksums": refdata.reference_checksums(),
    }
    (truth_dir / "truth.json").write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return ("municipality_effects.parquet", "framework_log_hazard.parquet", "truth.json")
