"""Dagster assets and their checks, one subpackage per stage (= asset group = DuckDB schema)."""
