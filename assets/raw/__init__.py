"""raw: one typed table per register, loaded by the contract, validated, then published whole.

One step loads the whole delivery: it surveys the landing folder, stages every register
whose files changed in ``raw._stage_<register>``, runs the file and header rules, the
Great Expectations suite per file, the all-row SQL rules and the rules between
registers, and only if every blocking rule passes replaces the changed ``raw.<register>``
tables in ONE transaction. A delivery is published whole or not at all: a failed rule,
a kill or too little memory leaves every published table of the last good delivery in
place; the rejected rows go to ``quarantine.<register>`` with the rule each broke. An
unchanged register (same files, same sha256) is not re-read.
"""


import hashlib
from typing import Iterator, Literal

import dagster as dg
from pydantic import Field

from kommunebench import raw as rawlib
from kommunebench.contract import REGISTERS, Register
from kommunebench.paths import register_years
from kommunebench.validation import ValidationError, failed_blocking
from orchestration.code_version import code_version
from orchestration.resources import Landing, Warehouse
from orchestration.warehouse import check_result, table_metadata

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
    quarantine_cap: int = Field(
        default=rawlib.QUARANTINE_CAP, ge=0,
        description="Rejected rows kept in quarantine.<register> per file, rule and column (the total count of rows "
        "that broke each rule is always in quarantine.rejections).",
    )


CROSS_RULES = {"permit_not_before_birth", "birth_before_first_week_on_record"}


def _checks_for(register: Register) -> dict[str, str]:
    checks = {
        "delivery_files": "Every file can be read, has rows, is named by the contract, lies inside the landing folder "
        "(no link out of it), and yearly registers have one file per year; entries that are not part of the delivery "
        "are listed (warning).",
        "contract_schema": "Required columns present and upper case, text columns (PNR) delivered as text, wide columns "
        "naming real periods (ISO weeks, months), no unknown columns (warning), every value casts to the contract type.",
        "expectation_suite": "Great Expectations suite per file: key not null and unique, codes in their code lists; "
        "PNR exactly 10 characters.",
        "dates_within_register_years": "Every date from 1900 on and not after the end of the file's register year "
        "(DREAM's ISO-week calendar), or not in the future where an event may follow the last register year.",
    }
    if register.name in ("DREAM", "OPHG"):
        checks["consistent_across_registers"] = {
            "DREAM": "No weekly code recorded in a week that ended before the person's birth date.",
            "OPHG": "No permit dated before the person's birth date (DREAM.FOEDDT, BEF.FOED_DAG).",
        }[register.name]
    if not register.per_year:
        checks["key_unique_across_files"] = "The register key is unique across all delivered files."
    if register.wide:
        checks["weekly_codes_in_codebook"] = "Every weekly DREAM code is in the codebook (unknown codes listed with counts)."
        checks["wide_columns_valid"] = "Municipality, match group, assessment and employment-degree columns hold valid values."
    return checks


FILE_RULES = {"register_folder_exists", "files_inside_landing_folder", "file_name_matches_contract", "file_readable",
              "file_not_empty", "file_has_rows", "register_has_files", "one_file_per_year", "ignored_entries"}
SCHEMA_RULES = {"expect_column_to_exist", "column_in_contract", "column_names_upper_case", "column_delivered_as_text",
                "wide_columns_name_real_periods"}


def _which_check(rule: str, column: str | None, register: Register) -> str:
    if rule in FILE_RULES:
        return "delivery_files"
    if rule in SCHEMA_RULES or rule.startswith("values_cast_to_"):
        return "contract_schema"
    if rule in CROSS_RULES:
        return "consistent_across_registers"
    if rule in ("date_not_after_register_year", "date_not_in_the_future") or (rule == "expect_column_values_to_be_between" and column
                                                  and column in register.column_names):
        return "dates_within_register_years"
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


def _fingerprint(files: list[rawlib.LandingFile]) -> str:
    return hashlib.sha256("\n".join(f"{f.name}:{f.sha256}" for f in files).encode()).hexdigest()[:16]


def _files_md(files: list[rawlib.LandingFile]) -> dg.MetadataValue:
    return dg.MetadataValue.md(
        "| file | format | size (bytes) | sha256 |\n|---|---|---|---|\n"
        + "\n".join(f"| {f.name} | {f.fmt} | {f.size} | `{f.sha256}` |" for f in files)
    )


def _drop_stages_quietly(conn) -> None:
    for reg in REGISTERS.values():
        try:
            rawlib.drop_stage(conn, reg)
        except Exception:  # the connection may be unusable after the error being raised; the next load drops them
            return


def _key(register: Register) -> dg.AssetKey:
    return dg.AssetKey(["raw", register.name.lower()])


@dg.multi_asset(
    name="raw_registers",
    specs=[
        dg.AssetSpec(
            key=_key(r),
            deps=[dg.AssetKey(["landing", r.name.lower()]), dg.AssetKey(["ref", "reference_tables"])],
            group_name="raw",
            kinds={"duckdb"},
            owners=["team:data-engineering"],
            description=f"{r.description} Typed by the register contract, validated, then published with the rest of "
            "its delivery in one transaction. " + __doc__.split("\n\n")[1].replace("\n", " "),
            code_version=CODE_VERSION,
            tags={"register": r.name},
        )
        for r in REGISTERS.values()
    ],
    check_specs=[
        dg.AssetCheckSpec(name, asset=_key(r), blocking=True, description=desc)
        for r in REGISTERS.values() for name, desc in _checks_for(r).items()
    ],
    pool="duckdb",
)
def raw_registers(context: dg.AssetExecutionContext, config: RawLoadConfig, warehouse: Warehouse, landing: Landing) -> Iterator:
    registers = list(REGISTERS.values())
    with warehouse.connect() as conn:
        left = rawlib.clear_leftover_stages(conn)
        if left:
            context.log.warning(f"dropped stage table(s) {', '.join(left)} left by an earlier run that did not finish "
                                "(nothing of them was published)")
        try:
            delivery = rawlib.check_delivery(conn, landing.root, register_years(), force_reload=config.force_reload,
                                             unknown_codes=config.unknown_codes, cap=config.quarantine_cap,
                                             log=context.log.info)
        except Exception:
            _drop_stages_quietly(conn)  # a failed load leaves nothing behind (a killed one: the next load drops it)
            raise
        survey, reports, unchanged, outcomes, tables = (delivery.survey, delivery.reports, delivery.unchanged,
                                                        delivery.outcomes, delivery.tables)
        if survey.ignored:
            context.log.warning(f"landing folder {landing.root}: {survey.ignored_message()}")
        for reg in registers:
            checks = _checks_for(reg)
            by_check: dict[str, list] = {name: [] for name in checks}
            for o in outcomes[reg.name]:
                by_check[_which_check(o.rule, o.column, reg)].append(o)
            for name, outs in by_check.items():
                if reg.name in unchanged and not outs:
                    yield dg.AssetCheckResult(asset_key=_key(reg), check_name=name, passed=True,
                                              metadata={"skipped": "files unchanged since the last validated load"})
                else:
                    yield check_result(name, outs, asset_key=_key(reg))

        all_outcomes = [o for reg in registers for o in outcomes[reg.name]]
        if failed_blocking(all_outcomes):
            kept = {}
            for reg in registers:
                if failed_blocking(outcomes[reg.name]):
                    source = tables.get(reg.name) or rawlib.stage_table(reg)
                    kept[reg.name] = rawlib.quarantine(conn, reg, outcomes[reg.name], context.run_id, source=source,
                                                       cap=config.quarantine_cap)
            for reg in registers:
                rawlib.drop_stage(conn, reg)
            err = ValidationError("raw", all_outcomes)
            where = ", ".join(f"{n} in quarantine.{r.lower()}" for r, n in kept.items() if n)
            raise dg.Failure(
                description=f"{err}\nThe delivery is not published: every raw table is unchanged (a delivery is "
                f"published whole). Rejected rows: {where or 'none (file rules)'}; every broken rule with its count "
                "is in quarantine.rejections.",
                metadata={"quarantined_rows": sum(kept.values())},
            )
        changed = [(reg, reports[reg.name]) for reg in registers if reg.name in reports]
        published = rawlib.publish_registers(conn, changed, context.run_id) if changed else {}
        if changed:
            context.log.info(f"published {', '.join(r.name for r, _ in changed)} in one transaction")
        for reg in registers:
            files = survey.files[reg.name]
            target = rawlib.published_table(reg)
            cols = [r[0] for r in conn.execute(f"DESCRIBE {target}").fetchall()]
            meta = {
                **table_metadata(conn, target),
                "files": _files_md(files),
                "input_checksums": {f.name: f.sha256 for f in files},
                "reloaded": reg.name in reports,
                "register_years": weekly_years(cols),
            }
            if reg.name in reports:
                report = reports[reg.name]
                meta.update({"rows_per_file": report.rows, "published_rows": published[reg.name],
                             "encodings": {k: v or "n/a" for k, v in report.encodings.items()}})
            if survey.ignored:
                meta["ignored_entries"] = dg.MetadataValue.md("\n".join(f"- `{p}`: {why}" for p, why in survey.ignored))
            yield dg.MaterializeResult(asset_key=_key(reg), data_version=dg.DataVersion(_fingerprint(files)), metadata=meta)


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

RAW_ASSETS = [raw_registers]
