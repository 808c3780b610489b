"""The process that runs the pipeline for ``kommunebench run`` and ``materialize``.

Started by :mod:`kommunebench.supervise` with one JSON argument (what to run). Progress
lines go to stdout (the supervisor shows them); tracebacks and library warnings go to
stderr (the supervisor keeps them in the command's log file). Exit code 0: every run
succeeded; 1: a run failed (its message is on stdout).
"""

from __future__ import annotations

import json
import sys


def say(msg: str) -> None:
    print(msg, flush=True)


MEMORY_SIGNS = ("MemoryError", "failed to map segment", "Cannot allocate memory", "bad_alloc", "Out of Memory")


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline; an error outside any run (an import that fails for lack of memory,
    a broken installation) is reported in one line here and with its traceback on stderr."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - reported, with the traceback in the log
        import traceback

        traceback.print_exc()
        text = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        say(f"the pipeline could not run: {text}")
        if isinstance(e, MemoryError) or any(m in text for m in MEMORY_SIGNS):
            from kommunebench.machine import default_memory_limit, fitted_budget

            say(f"Out of memory before any step ran: the process has {fitted_budget().source}. Give it more memory "
                f"(a larger ulimit -v or cgroup limit); KOMMUNEBENCH_DUCKDB_MEMORY_LIMIT (now {default_memory_limit()}) "
                "bounds DuckDB only. The last good results are unchanged.")
        return 1


def _main(argv: list[str] | None = None) -> int:
    spec = json.loads((argv or sys.argv[1:])[0])
    if spec.get("generate"):
        from kommunebench.cli import generate

        generate(persons=None, seed=2016, fmt="parquet", encoding="utf-8", out=None, truth=None,
                 first_year=min(spec["register_years"]), last_year=max(spec["register_years"]), progress=False,
                 effect_law="normal", national=False, truth_replicates=2, with_truth=True)

    from orchestration import runner
    from orchestration.definitions import build_defs

    runner.CONSOLE["stream"] = sys.stdout
    defs = build_defs()  # resources from the current environment; fits the memory budget (libraries loaded)
    from kommunebench.machine import default_memory_limit, default_temp_directory, fitted_budget

    budget = fitted_budget()
    # for the supervisor's report if this process dies (see kommunebench.supervise)
    print(f"kommunebench-worker: duckdb memory_limit={default_memory_limit()} temp_directory={default_temp_directory()} "
          f"budget={budget.bytes} source={budget.source}", file=sys.stderr, flush=True)
    instance = runner.project_instance()
    report = runner.run_pipeline(
        defs, instance=instance, register_years=spec["register_years"], cohort_years=spec["cohort_years"],
        stages=tuple(spec["stages"]), progress=say, numbering=tuple(spec["numbering"]) if spec.get("numbering") else None,
    )
    return 0 if report.success else 1


if __name__ == "__main__":
    sys.exit(main())
