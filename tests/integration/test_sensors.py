"""A new register year refreshes only what it affects."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from builders import write_delivery
from integration.test_hand_built_persons import YEARS, persons
from kommunebench.landing import write_table
from orchestration.runner import run_job
from orchestration.sensors import (
    affected_cohorts,
    cohorts_after_register_years,
    landing_delivery,
    register_years_after_load,
)

pytestmark = pytest.mark.integration


def test_affected_cohorts_window():
    assert affected_cohorts({2017}) == [2014, 2015]
    assert affected_cohorts({2008}) == [2011]
    assert affected_cohorts(set()) == []


def requests(result):
    if isinstance(result, dg.SkipReason) or result is None:
        return []
    return result if isinstance(result, list) else [result]


def test_refresh_touches_only_affected_partitions(defs, resources, instance):
    landing = resources["landing"].root
    write_delivery(persons(), landing, YEARS)

    # 1. a delivery arrives: the landing sensor asks for a register load, once
    ctx = dg.build_sensor_context(instance=instance)
    first = requests(landing_delivery(ctx))
    assert [r.job_name for r in first] in ([None], ["load_registers"])
    again = landing_delivery(dg.build_sensor_context(instance=instance, cursor=ctx.cursor))
    assert isinstance(again, dg.SkipReason)

    assert run_job(defs, "load_registers", instance=instance).success
    reqs = requests(register_years_after_load(dg.build_sensor_context(instance=instance)))
    assert sorted(r.partition_key for r in reqs) == [str(y) for y in YEARS]
    for y in YEARS:
        assert run_job(defs, "register_years", instance=instance, partition=str(y)).success

    # 2. first build: every cohort year is affected
    ctx = dg.build_sensor_context(instance=instance)
    reqs = requests(cohorts_after_register_years(ctx))
    assert sorted(r.partition_key for r in reqs) == ["2011", "2012", "2013", "2014", "2015"]
    cursor = ctx.cursor

    # 3. a revised delivery changes one week of 2017 only
    path = landing / "DREAM" / "DREAM.parquet"
    df = pl.read_parquet(path)
    write_table(df.with_columns(pl.lit("890").alias("Y_1720")), path)
    assert run_job(defs, "load_registers", instance=instance).success
    for y in YEARS:
        assert run_job(defs, "register_years", instance=instance, partition=str(y)).success
    reqs = requests(cohorts_after_register_years(dg.build_sensor_context(instance=instance, cursor=cursor)))
    assert sorted(r.partition_key for r in reqs) == ["2014", "2015"]
    assert all('2017' in r.tags["changed_register_years"] for r in reqs)
