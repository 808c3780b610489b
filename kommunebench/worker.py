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


def main(argv: list[str] | None = None) -> int:
    spec = json.loads((argv or sys.argv[1:])[0])
    from kommunebench.machine import default_memory_limit, default_temp_directory, memory_budget

    budget = memory_budget()
    # for the supervisor's report if this process dies (see kommunebench.supervise)
    print(f"kommunebench-worker: duckdb memory_limit={default_memory_limit()} temp_directory={default_temp_directory()} "
          f"budget={budget.bytes} source={budget.source}", file=sys.stderr, flush=True)
    if spec.get("generate"):
        from kommunebench.cli import generate

        generate(persons=None, seed=2016, fmt="parquet", encoding="utf-8", out=None, truth=None,
                 first_year=min(spec["register_years"]), last_year=max(spec["register_years"]), progress=False,
                 effect_law="normal", national=False, truth_replicates=2, with_truth=True)

    from orchestration import runner
    from orchestration.definitions import build_defs

    runner.CONSOLE["stream"] = sys.stdout
    defs = build_defs()  # resources from the current environment
    instance = runner.project_instance()
    report = runner.run_pipeline(
        defs, instance=instance, register_years=spec["register_years"], cohort_years=spec["cohort_years"],
        stages=tuple(spec["stages"]), progress=say,
    )
    return 0 if report.success else 1


if __name__ == "__main__":
    sys.exit(main())
