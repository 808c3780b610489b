"""raw: one typed table per register, loaded by the contract, validated, then published.

Each asset reads the register's landing files, stages them in ``stage.<register>``,
runs the Great Expectations suite per file and the all-row SQL rules, and only if every
blocking rule passes replaces ``raw.<register>`` in one transaction. A failed delivery
leaves the last good table in place; its rejected rows go to ``quarantine.<register>``
with the rule they broke. An unchanged delivery (same files, same sha256) is not re-read.
"""


import hashlib
from typing import Iterator, Literal

import dagster as dg
from pydantic import Field

from kommunebench import raw as rawlib
from kommunebench.contract import REGISTERS, Register
from kommunebench.validation import ValidationError, failed_blocking
from orchestration.code_version import code_version
from orchestration.resources import Landing, Warehouse
from orchestration.warehouse import check_result, table_exists, table_metadata

CODE_VERSION = code_version(
    modules=("kommunebench.raw", "kommunebench.contract", "kommunebench.validation", "kommunebench.refdata"),
    files=tuple(sorted(rawlib.refdata.REFERENCE_DIR.glob("*.csv"))),
)


class RawLoadConfig(dg.Config):
    unknown_codes: Literal["fail", "warn"] = Field(
        default="fail",
        description="What a DREAM code absent from the codebook does: 'fail' stops the delivery, 'warn' lets "
        "it through (listed with its count in the check, mapped to OTHER downstream).",
    )
    force_reload: bool = Field(default=False, description="Re-read the files even if their checksums are unchanged.")


def _checks_for(register: Register) -> dict[str, str]:
    checks = {
        "contract_schema": "Required columns present, no unknown columns, every value casts to the contract type.",
        "expectation_suite": "Great Expectations suite per file: key not null and unique, codes in their code lists, plausible dates.",
    }
    if not register.per_year:
        checks["key_unique_across_files"] = "The register key is unique across all delivered files."
    if register.wide:
        checks["weekly_codes_in_codebook"] = "Every weekly DREAM code is in the codebook (unknown codes listed with counts)."
        checks["wide_columns_valid"] = "Municipality, match group, assessment and employment-degree columns hold valid values."
    return checks


def _which_check(rule: str, column: str | None, register: Register) -> str:
    if rule in ("expect_column_to_exist", "column_in_contract") or rule.startswith("values_cast_to_"):
        return "contract_schema"
    if rule == "expect_compound_columns_to_be_unique_across_files":
        return "key_unique_across_files"
    if rule == "expect_weekly_codes_in_codebook":
        return "weekly_codes_in_codebook"
    if column and register.wide and any(w.name == column for w in register.wide):
        return "wide_columns_valid"
    return "expectation_suite"


def weekly_years(columns) -> list[int]:
    """ISO years covered by DREAM's weekly columns Y_yyww."""
    from kommunebench.contract import week_column_year

    return sorted({week_column_year(int(c[2:4])) for c in columns if c.startswith("Y_") and len(c) == 6 and c[2:].isdigit()})


def build_raw_asset(register: Register) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", register.name.lower()])
    checks = _checks_for(register)
    specs = [dg.AssetCheckSpec(name, asset=key, blocking=True, description=desc) for name, desc in checks.items()]

    @dg.asset(
        key=key,
        deps=[dg.AssetKey(["landing", register.name.lower()]), dg.AssetKey(["ref", "reference_tables"])],
        group_name="raw",
        kinds={"duckdb"},
        owners=["team:data-engineering"],
        description=f"{register.description} Typed by the register contract, validated, then published. {__doc__.split(chr(10))[2]}",
        code_version=CODE_VERSION,
        check_specs=specs,
        pool="duckdb",
        tags={"register": register.name},
    )
    def _raw(context: dg.AssetExecutionContext, config: RawLoadConfig, warehouse: Warehouse, landing: Landing) -> Iterator:
        try:
            files = rawlib.discover(landing.root, register)
        except rawlib.DeliveryError as e:
            raise dg.Failure(description=str(e)) from e
        fingerprint = hashlib.sha256(
            "\n".join(f"{f.name}:{f.sha256}" for f in files).encode()
        ).hexdigest()[:16]
        file_meta = dg.MetadataValue.md(
            "| file | format | size (bytes) | sha256 |\n|---|---|---|---|\n"
            + "\n".join(f"| {f.name} | {f.fmt} | {f.size} | `{f.sha256}` |" for f in files)
        )
        target = f"raw.{rawlib.q(register.name.lower())}"
        with warehouse.connect() as conn:
            unchanged = (
                not config.force_reload
                and rawlib.last_published(conn, register.name) == {(f.name, f.sha256) for f in files}
                and table_exists(conn, "raw", register.name.lower())
            )
            if unchanged:
                context.log.info(f"{register.name}: files unchanged since the last load; not re-read")
                for name in checks:
                    yield dg.AssetCheckResult(
                        check_name=name, passed=True,
                        metadata={"skipped": "files unchanged since the last validated load"},
                    )
                cols = [r[0] for r in conn.execute(f"DESCRIBE {target}").fetchall()]
                yield dg.MaterializeResult(
                    data_version=dg.DataVersion(fingerprint),
                    metadata={**table_metadata(conn, target), "files": file_meta, "reloaded": False,
                              "input_checksums": {f.name: f.sha256 for f in files},
                              "register_years": weekly_years(cols)},
                )
                return
            context.log.info(f"{register.name}: staging {len(files)} file(s)")
            report = rawlib.stage_register(conn, register, files)
            outcomes = list(report.outcomes)
            if not failed_blocking(outcomes):
                outcomes += rawlib.validate_register(conn, register, report, unknown_codes=config.unknown_codes)
            by_check: dict[str, list] = {name: [] for name in checks}
            for o in outcomes:
                by_check[_which_check(o.rule, o.column, register)].append(o)
            for name, outs in by_check.items():
                yield check_result(name, outs)
            if failed_blocking(outcomes):
                n = rawlib.quarantine(conn, register, outcomes, context.run_id)
                err = ValidationError(f"raw.{register.name.lower()}", outcomes)
                raise dg.Failure(
                    description=f"{err}\n{n} rejected row(s) kept in quarantine.{register.name.lower()}; "
                    f"the published raw.{register.name.lower()} is unchanged.",
                    metadata={"quarantined_rows": n},
                )
            rows = rawlib.publish_register(conn, register, report, context.run_id)
            yield dg.MaterializeResult(
                data_version=dg.DataVersion(fingerprint),
                metadata={
                    **table_metadata(conn, target),
                    "files": file_meta,
                    "rows_per_file": report.rows,
                    "encodings": {k: v or "n/a" for k, v in report.encodings.items()},
                    "input_checksums": {f.name: f.sha256 for f in files},
                    "reloaded": True,
                    "published_rows": rows,
                    "register_years": weekly_years(report.columns),
                },
            )

    return _raw


LANDING_SPECS = [
    dg.AssetSpec(
        key=["landing", r.name.lower()],
        group_name="landing",
        kinds={"parquet", "csv", "sas"},
        owners=["team:data-engineering"],
        description=f"{r.description} Files in <landing>/{r.name}/ as delivered (never modified); "
        f"file names match `{r.file_regex}`.",
    )
    for r in REGISTERS.values()
]

RAW_ASSETS = [build_raw_asset(r) for r in REGISTERS.values()]
