"""Descriptions of every published column (the 'columns' sheet of the workbook)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from kommunebench.report.disclosure import SUPPRESSED_COLUMN

COLUMN_DESCRIPTIONS: dict[str, str] = {
    # further benchmark columns (kommunebench.benchmark)
    "indicator_scale": "Scale of indicator_pct: time_ratio, hazard or rmst",
    "rmst_observed_se": "Standard error of the observed restricted mean (Kaplan-Meier, weeks)",
    "log_oe": "log(observed / expected): the unit's performance on the log-hazard scale",
    "log_oe_se": "Standard error of log(O/E), 1 / sqrt(O)",
    "zero_events": "True when the unit has no events (log O/E undefined; percentages shown as missing)",
    "z": "Wald statistic log(O/E) / SE",
    "p_value": "Two-sided p-value of log(O/E) = 0",
    "q_value": "Benjamini-Hochberg adjusted p-value (false discovery rate)",
    "shrinkage_factor": "Empirical-Bayes factor B = tau^2 / (tau^2 + SE^2)",
    "log_oe_shrunken": "Empirical-Bayes (shrunken) log(O/E)",
    "log_oe_shrunken_sd": "Posterior standard deviation of the shrunken log(O/E)",
    "hazard_pct": "Job-finding rate % higher than expected: 100 (O/E - 1)",
    "hazard_pct_lo": "Lower limit of hazard_pct", "hazard_pct_hi": "Upper limit of hazard_pct",
    "hazard_pct_shrunken": "Shrunken hazard_pct", "hazard_pct_shrunken_lo": "Lower limit of the shrunken hazard_pct",
    "hazard_pct_shrunken_hi": "Upper limit of the shrunken hazard_pct",
    "time_ratio_pct": "Time to success % shorter than expected: 100 (1 - TR), TR = (O/E)^(-1/shape)",
    "time_ratio_pct_lo": "Lower limit of time_ratio_pct", "time_ratio_pct_hi": "Upper limit of time_ratio_pct",
    "time_ratio_pct_shrunken": "Shrunken time_ratio_pct", "time_ratio_pct_shrunken_lo": "Lower limit of the shrunken time_ratio_pct",
    "time_ratio_pct_shrunken_hi": "Upper limit of the shrunken time_ratio_pct",
    "rmst_pct": "Restricted mean time to success % shorter than expected: 100 (expected - observed) / expected",
    "rmst_pct_lo": "Lower limit of rmst_pct", "rmst_pct_hi": "Upper limit of rmst_pct",
    "rmst_pct_shrunken": "Shrunken rmst_pct",
    "rank_mean": "Mean rank over the rank simulation",
    "p_bottom_fifth": "Probability of being in the bottom fifth (simulation)",
    "band_position": "Position of the indicator interval against the ±5 % band: inside, above, below or overlapping",
    "funnel_flag": "Observed / expected above (high), below (low) or inside the funnel limits",
    "aft_time_ratio_pct": "Sensitivity analysis: % faster from a Weibull AFT model with municipality dummies, net of framework conditions",
    "register": "Register the file belongs to (DREAM, BEF, OPHG, UDDA, RAMMEVILKAAR)",
    "loaded_at": "When the file was loaded into the warehouse (UTC)",

    # keys
    "target_group": "Target group: svage_indvandrere (weakest immigrants), flygtninge (refugees), "
                    "familiesammenfoerte (family-reunified)",
    "measure": "Success measure: success (ordinary job of at least the success run length) or "
               "partial_success (first week in private company internship or private wage subsidy)",
    "kom": "Municipality code (3 digits, Statistics Denmark); for a pooled unit, its first member",
    "unit_name": "Name of the reporting unit (municipality, or pooled shared job centre)",
    "members": "Municipality codes pooled in the unit, '+'-separated",
    # league table
    "persons": "Persons in the target group in the unit (count)",
    "events_observed": "Persons with the event (success) within the follow-up (count)",
    "events_expected": "Expected number of events from the duration model without a municipality effect "
                       "(sum of predicted event probabilities; indirect standardisation)",
    "oe_ratio": "Observed / expected events",
    "oe_lower": "Lower limit of observed / expected (exact Poisson, Garwood; interval level in the settings, default 90 %)",
    "oe_upper": "Upper limit of observed / expected (exact Poisson, Garwood; default 90 %)",
    "rmst_observed": "Observed restricted mean time to event over the follow-up, Kaplan-Meier (weeks)",
    "rmst_expected": "Mean of the persons' expected restricted mean time to event (weeks)",
    "indicator_pct": "Headline indicator: % faster than expected (positive = faster), on the scale named in "
                     "indicator_scale (default time ratio: 100 (1 - TR), TR = (O/E)^(-1/Weibull shape))",
    "indicator_lower": "Lower limit of the indicator (%; default 90 %)",
    "indicator_upper": "Upper limit of the indicator (%; default 90 %)",
    "weeks_difference": "Expected - observed restricted mean time (weeks); positive = faster",
    "weeks_lower": "Lower limit of the weeks difference (default 90 %)",
    "weeks_upper": "Upper limit of the weeks difference (default 90 %)",
    "indicator_eb": "Empirical-Bayes (shrunken) indicator (%)",
    "eb_lower": "Lower limit of the shrunken indicator (%; default 90 %)",
    "eb_upper": "Upper limit of the shrunken indicator (%; default 90 %)",
    "rank": "Rank among ranked units, 1 = best (highest indicator)",
    "rank_lower": "Lower limit of the rank interval from 10,000 simulated rankings (best plausible rank; default level 90 %)",
    "rank_upper": "Upper limit of the rank interval (worst plausible rank; default level 90 %)",
    "p_top_fifth": "Share of bootstrap replicates in which the unit is in the best fifth",
    "fifth": "Fifth of the ranking, 1 = best",
    "class": "Class: better, as_expected (within the band around expected), worse, "
             "not_distinguishable, too_small (below the minimum number of persons)",
    "too_small": "True when the unit has too few persons to be ranked",
    "funnel_lower": "Lower funnel limit of observed / expected at the unit's expected events (overdispersed, default 99.8 %)",
    "funnel_upper": "Upper funnel limit of observed / expected at the unit's expected events (overdispersed, default 99.8 %)",
    "share_weeks_passive": "Activity indicator: share of the persons' weeks on passive support",
    "share_wage_subsidy_or_internship": "Activity indicator: share of persons ever in wage subsidy or "
                                        "company internship",
    # chronogram
    "week": "Week since the clock started (1 = first week)",
    "state": "Analysis state code (kommunebench.states)",
    "state_label": "Analysis state, in words",
    "share": "Share of sequences (chronogram: in the state that week; clusters: in the cluster)",
    "n": "Sequences in the state that week (count)",
    # clusters
    "cluster": "Cluster number",
    "label": "Cluster name",
    "size": "Sequences in the cluster (count)",
    "medoid": "Representative sequence (medoid), TraMineR SPS format (STATE,weeks)-...",
    "silhouette": "Average silhouette width of the cluster's sequences",
    # coefficients
    "term": "Model term (covariate or framework condition)",
    "coef": "Coefficient (log hazard ratio)",
    "se": "Standard error of the coefficient",
    "hr": "Hazard ratio exp(coef)",
    "lower": "Lower 95 % limit of the hazard ratio",
    "upper": "Upper 95 % limit of the hazard ratio",
    "p": "Two-sided Wald p-value",
    # data quality
    "check": "Data-quality check",
    "asset": "Asset the check belongs to",
    "passed": "True when the check passed",
    "failing_rows": "Rows failing the check (count)",
    # settings, checksums
    "setting": "Setting name",
    "value": "Setting value used in the run",
    "file": "Input (landing) file",
    "sha256": "SHA-256 checksum of the file",
    "rows": "Rows in the file",
    SUPPRESSED_COLUMN: "Columns of the row suppressed by disclosure control (';'-separated); an empty cell "
                       "in those columns means fewer than 5 persons or a value from which one could be "
                       "recomputed",
}


def columns_sheet(tables: Mapping[str, pd.DataFrame], extra: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (table, column) with its type and description.

    Raises ``ValueError`` listing every column without a description (add it to
    ``COLUMN_DESCRIPTIONS`` or pass ``extra``): an undocumented column is never published.
    """
    desc = {**COLUMN_DESCRIPTIONS, **(extra or {})}
    rows, missing = [], []
    for tname, frame in tables.items():
        for col in frame.columns:
            if col not in desc:
                missing.append(f"{tname}.{col}")
                continue
            rows.append({"table": tname, "column": col, "type": str(frame[col].dtype), "description": desc[col]})
    if missing:
        raise ValueError(f"columns without a description: {missing}; add them to COLUMN_DESCRIPTIONS")
    return pd.DataFrame(rows, columns=["table", "column", "type", "description"])
