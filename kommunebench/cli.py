"""The ``kommunebench`` command line.

    kommunebench run            generate the synthetic default (if no landing data) and
                                materialise everything; prints where the results are
    kommunebench generate       write a synthetic register extract
    kommunebench materialize    materialise a stage, a cohort year or a range
    kommunebench ui             the Dagster UI on 127.0.0.1
    kommunebench where          where the landing data, warehouse, report and exports are
    kommunebench contract       write docs/register_contract.md from the register contract
    kommunebench check-extract  check a landing folder against the contract and the reference
                                tables without loading it (codes and counts only)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer

from kommunebench.paths import REPO_ROOT, cohort_years, parse_years, project_paths, register_years

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

STAGES = ("registers", "register_years", "cohorts", "pooled")


def _echo(msg: str) -> None:
    typer.echo(msg, err=False)


def _landing_has_data(landing: Path) -> bool:
    return (landing / "DREAM").is_dir() and any((landing / "DREAM").iterdir())


def write_synthetic_manifest(landing: Path, summary) -> Path:
    from kommunebench.synth.generate import GENERATOR_VERSION

    path = landing / "SYNTHETIC.json"
    path.write_text(
        json.dumps(
            {
                "generator_version": GENERATOR_VERSION,
                "seed": summary.seed,
                "n_persons": summary.n_persons,
                "first_year": summary.first_year,
                "last_year": summary.last_year,
                "format": summary.fmt,
                "note": "Synthetic registers made by kommunebench generate; not real data.",
            },
            indent=2,
        )
    )
    return path


@app.command()
def generate(
    persons: Optional[int] = typer.Option(None, "--persons", "-n", help="Number of persons (default: the embedded default size)."),
    seed: int = typer.Option(2016, help="Random seed; the same seed gives byte-identical files."),
    fmt: str = typer.Option("parquet", "--format", help="parquet, csv or sas7bdat"),
    encoding: str = typer.Option("utf-8", help="CSV encoding: utf-8 or iso-8859-1"),
    out: Optional[Path] = typer.Option(None, help="Landing folder (default: $KOMMUNEBENCH_LANDING)."),
    truth: Optional[Path] = typer.Option(None, help="Truth folder, outside the landing folder (default: $KOMMUNEBENCH_TRUTH)."),
    first_year: Optional[int] = typer.Option(None, help="First register year (default: the first of KOMMUNEBENCH_REGISTER_YEARS)."),
    last_year: Optional[int] = typer.Option(None, help="Last register year (default: the last of KOMMUNEBENCH_REGISTER_YEARS)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    effect_law: str = typer.Option("normal", "--effect-law", help="Law of the planted municipality effects: normal, t3 or mixture."),
    national: bool = typer.Option(False, "--national", help="National size: cohorts as large as the real ones (overrides --persons)."),
    truth_replicates: int = typer.Option(2, "--truth-replicates", help="Replicate pairs of the counterfactual truth (more: a more precise truth, slower)."),
    with_truth: bool = typer.Option(True, "--with-truth/--no-truth", help="Compute the counterfactual truth on the benchmark's scale."),
) -> None:
    """Write a synthetic register extract (DREAM, BEF, OPHG, UDDA, RAMMEVILKAAR) and its planted truth."""
    import dataclasses

    from kommunebench.synth import DEFAULT_N_PERSONS, NATIONAL_N_PERSONS
    from kommunebench.synth import generate as synth_generate
    from kommunebench.synth.municipalities import EFFECT_LAWS
    from kommunebench.synth.params import Behaviour

    if effect_law not in EFFECT_LAWS:
        raise typer.BadParameter(f"--effect-law {effect_law!r}: choose one of {', '.join(EFFECT_LAWS)}")
    if truth_replicates < 1:
        raise typer.BadParameter("--truth-replicates must be at least 1")

    paths = project_paths()
    out = out or paths.landing
    truth = truth or paths.truth
    n = NATIONAL_N_PERSONS if national else (persons or DEFAULT_N_PERSONS)
    if first_year is None or last_year is None:
        years = register_years_checked()
        first_year = years[0] if first_year is None else first_year
        last_year = years[-1] if last_year is None else last_year
    summary = synth_generate(
        out, n_persons=n, seed=seed, first_year=first_year, last_year=last_year,
        fmt=fmt, csv_encoding=encoding, truth_dir=truth, progress=progress,
        behaviour=dataclasses.replace(Behaviour(), effect_law=effect_law), truth_replicates=truth_replicates,
        with_truth=with_truth,
    )
    write_synthetic_manifest(out, summary)
    _echo(f"wrote {len(summary.files)} files for {summary.n_persons} persons to {out} in {summary.seconds:.1f} s")
    _echo(f"planted truth in {truth} (the pipeline never reads it)")
    for g, n in summary.persons_per_group.items():
        _echo(f"  {g}: {n} persons")


def _user_error(msg: str) -> typer.Exit:
    """A mistake in what the user asked for: one message, exit code 2, no traceback."""
    typer.echo(f"kommunebench: {msg}", err=True)
    return typer.Exit(2)


def _years(text: str | None, name: str, default) -> list[int]:
    try:
        return parse_years(text, name) if text else default()
    except ValueError as e:
        raise _user_error(str(e)) from None


def _check_landing(explicit_only: bool) -> None:
    """A landing folder that does not exist is a mistake (a typo in KOMMUNEBENCH_LANDING),
    except the project's default folder, which ``run`` fills with the synthetic default."""
    landing = project_paths().landing
    if landing.is_dir():
        return
    if explicit_only and not os.environ.get("KOMMUNEBENCH_LANDING"):
        return
    where = "KOMMUNEBENCH_LANDING" if os.environ.get("KOMMUNEBENCH_LANDING") else "the default landing folder"
    what = "is not a folder" if landing.exists() else "does not exist"
    raise _user_error(
        f"the landing folder {landing} ({where}) {what}: point KOMMUNEBENCH_LANDING at the folder holding "
        "DREAM/, BEF/, OPHG/, UDDA/ and RAMMEVILKAAR/, or run `kommunebench run` to generate the synthetic default"
    )


def _supervise(spec: dict) -> int:
    """Run the pipeline in a worker process and report how it ended.

    The worker (``python -m kommunebench.worker``) does the work; this process only
    streams its progress lines, keeps its stderr (tracebacks, library warnings) in a log
    file under ``$KOMMUNEBENCH_HOME/logs/``, and, if the worker dies from a signal (the
    kernel's out-of-memory killer, an allocator that aborts, ``kill -9``), says in which
    step and why, marks the run failed and frees its pool slot at once, so the user sees
    one clear message and the next run starts unhindered.
    """
    from kommunebench.supervise import supervise

    return supervise(spec, _echo)


def _run(stages: tuple[str, ...], reg_years: list[int], coh_years: list[int], *, generate_first: bool = False) -> bool:
    spec = {"command": "run", "stages": list(stages), "register_years": reg_years, "cohort_years": coh_years,
            "generate": generate_first}
    return _supervise(spec) == 0


@app.command()
def run(
    regenerate: bool = typer.Option(False, help="Regenerate the synthetic extract even if landing data exist."),
) -> None:
    """The main job: synthetic registers (if none) -> DuckDB -> benchmark, sequences, report."""
    paths = project_paths()
    _check_landing(explicit_only=True)
    reg, coh = _years(None, "", register_years_checked), _years(None, "", cohort_years_checked)
    gen = regenerate or not _landing_has_data(paths.landing)
    if gen:
        _echo(f"no register extract in {paths.landing}: generating the embedded synthetic default")
    ok = _run(STAGES, reg, coh, generate_first=gen)
    where()
    if not ok:
        _echo("the run FAILED: the last good results are unchanged (see the messages above)")
        raise typer.Exit(1)


def register_years_checked() -> list[int]:
    try:
        return register_years()
    except ValueError as e:
        raise _user_error(str(e)) from None


def cohort_years_checked() -> list[int]:
    try:
        return cohort_years()
    except ValueError as e:
        raise _user_error(str(e)) from None


@app.command()
def materialize(
    stage: list[str] = typer.Option(list(STAGES), "--stage", "-s", help=f"Stages to run, in order: {', '.join(STAGES)}."),
    cohort_year: Optional[str] = typer.Option(None, "--cohort-year", "-c", help="Cohort year(s), e.g. 2013 or 2012-2014."),
    register_year: Optional[str] = typer.Option(None, "--register-year", "-r", help="Register year(s), e.g. 2016 or 2008-2018."),
) -> None:
    """Materialise selected stages for selected cohort or register years (all by default)."""
    bad = [s for s in stage if s not in STAGES]
    if bad:
        raise _user_error(f"unknown stage(s) {', '.join(bad)}; choose from {', '.join(STAGES)}")
    known_reg, known_coh = register_years_checked(), cohort_years_checked()
    reg = _years(register_year, "--register-year", lambda: known_reg)
    coh = _years(cohort_year, "--cohort-year", lambda: known_coh)
    unknown = sorted(set(reg) - set(known_reg)) + sorted(set(coh) - set(known_coh))
    if unknown:
        raise _user_error(
            f"year(s) {', '.join(map(str, unknown))} are not partitions (register years "
            f"{known_reg[0]}-{known_reg[-1]}, cohort years {known_coh[0]}-{known_coh[-1]}); "
            "set KOMMUNEBENCH_REGISTER_YEARS / KOMMUNEBENCH_COHORT_YEARS"
        )
    _check_landing(explicit_only=False)
    ordered = tuple(s for s in STAGES if s in stage)
    spec = {"command": "materialize", "stages": list(ordered), "register_years": reg, "cohort_years": coh,
            "generate": False}
    if _supervise(spec) != 0:
        raise typer.Exit(1)


@app.command()
def where() -> None:
    """Where the landing data, warehouse, report, exports and run history are."""
    p = project_paths()
    items = [
        ("landing data", p.landing),
        ("planted truth", p.truth),
        ("DuckDB warehouse", p.warehouse),
        ("HTML report", p.report),
        ("exports", p.exports),
        ("Dagster home (run history)", p.dagster_home),
    ]
    _echo("kommunebench results:")
    for label, path in items:
        state = "" if path.exists() else "  (not there yet)"
        _echo(f"  {label:28s} {path}{state}")


@app.command()
def ui(
    port: int = typer.Option(3000, help="Port on 127.0.0.1."),
) -> None:
    """Serve the Dagster UI on 127.0.0.1 (same instance as command-line runs)."""
    from orchestration.runner import prepare_dagster_home

    home = prepare_dagster_home()
    env = dict(os.environ, DAGSTER_HOME=home)
    # A workspace file names the code location "kommunebench" (as [tool.dagster] in
    # pyproject.toml does; `-m` would name it after the module) and lets dagster dev run in
    # DAGSTER_HOME, away from the repository's template dagster.yaml it would warn about.
    workspace = Path(home) / "workspace.yaml"
    workspace.write_text(json.dumps({"load_from": [{"python_module": {
        "module_name": "orchestration.definitions", "location_name": "kommunebench",
        "working_directory": str(REPO_ROOT), "executable_path": sys.executable,
    }}]}, indent=2))  # JSON is YAML
    cmd = [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(port), "-w", str(workspace)]
    _echo(f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={home}); Ctrl-C to stop")
    # dagster dev started from a script may ignore SIGINT; restore the default handler.
    proc = subprocess.Popen(cmd, cwd=home, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # SIGTERM to this command (a service manager, a test, `kill`) must stop dagster dev and
    # its webserver, daemon and code server too, not orphan them: pass it on and wait.
    signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signum))
    try:
        raise typer.Exit(proc.wait())
    except KeyboardInterrupt:
        proc.terminate()
        raise typer.Exit(proc.wait())


@app.command("expected-sizes")
def expected_sizes() -> None:
    """Record the current cohort sizes of the synthetic default as the expected ones (after an intended change)."""
    import csv

    import duckdb

    from assets.cohorts.expected import EXPECTED_FILE, synthetic_manifest

    paths = project_paths()
    manifest = synthetic_manifest(paths.landing)
    if manifest is None:
        raise typer.BadParameter(f"{paths.landing} holds no synthetic extract (no SYNTHETIC.json)")
    with duckdb.connect(str(paths.warehouse), read_only=True) as conn:
        rows = conn.execute(
            "SELECT cohort_year, target_group, count(*) FROM cohorts.cohort_members GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    key = (str(manifest["generator_version"]), str(manifest["seed"]), str(manifest["n_persons"]))
    kept = []
    if EXPECTED_FILE.exists():
        with open(EXPECTED_FILE, newline="") as f:
            kept = [r for r in csv.DictReader(f) if (r["generator_version"], r["seed"], r["n_persons"]) != key]
    fields = ["generator_version", "seed", "n_persons", "cohort_year", "target_group", "persons"]
    with open(EXPECTED_FILE, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in kept:
            w.writerow(r)
        for year, group, n in rows:
            w.writerow(dict(zip(fields, [*key, year, group, n])))
    _echo(f"wrote {len(rows)} expected cohort sizes to {EXPECTED_FILE}")


@app.command()
def contract(out: Path = typer.Option(REPO_ROOT / "docs" / "register_contract.md")) -> None:
    """Write the register contract as Markdown."""
    from kommunebench.contract import render_markdown

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_markdown(), encoding="utf-8")
    _echo(f"wrote {out}")


@app.command("check-extract")
def check_extract(
    path: Path = typer.Argument(..., help="The landing folder: one subfolder per register (DREAM/, BEF/, ...)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check a landing folder against the register contract and the reference tables, without loading it.

    Lists the files and their registers, years and rows, the columns against the contract,
    and every code the reference tables do not know, with counts (under 5 shown as <5).
    No person-level value is printed. Exits with 1 when something does not match.
    """
    from kommunebench.extract_check import check_extract as run_check

    try:
        report = run_check(path)
    except FileNotFoundError as e:
        typer.echo(f"check-extract: {e}", err=True)
        raise typer.Exit(2) from None
    _echo(report.to_json() if as_json else report.to_text())
    if not report.ok:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
