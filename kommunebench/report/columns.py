"""Descriptions of every published column (the 'columns' sheet of the workbook)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from kommunebench.report.disclosure import SUPPRESSED_COLUMN

COLUMN_DESCRIPTIONS: dict[str, str] = {
    # further benchmark columns (kommunebench.benchmark)
    "rmst_observed_se": "Standard error of the observed restricted mean (Kaplan-Meier, weeks)",
    "log_oe": "log(observed / expected): the unit's log rate ratio theta, its own data only",
    "log_oe_se": "Standard error of log(O/E), 1 / sqrt(O)",
    "zero_events": "True when the unit has no events (log O/E undefined; percentages shown as missing)",
    "p_value": "Two-sided exact Poisson p-value of observed = expected",
    "q_value": "Benjamini-Hochberg adjusted p-value (false discovery rate)",
    "log_oe_shrunken": "Posterior mean of the log rate ratio (Poisson log-normal hierarchy, tau integrated over)",
    "log_oe_shrunken_sd": "Posterior standard deviation of the log rate ratio",
    "hazard_pct": "The rate of reaching the event, % above expected: 100 (O/E - 1) (not bounded; its interval is oe_lo/oe_hi)",
    "rmst_pct": "Restricted mean time to the event % shorter than expected: 100 (expected - observed) / expected",
    "rmst_pct_lo": "Lower limit of rmst_pct", "rmst_pct_hi": "Upper limit of rmst_pct",
    "weeks_faster": "Weeks sooner than expected within the follow-up, from the estimate through the expected model",
    "weeks_faster_lo": "Lower limit of weeks_faster", "weeks_faster_hi": "Upper limit of weeks_faster",
    "weeks_faster_shrunken": "Posterior mean of the weeks sooner than expected",
    "weeks_faster_shrunken_lo": "Lower limit of weeks_faster_shrunken", "weeks_faster_shrunken_hi": "Upper limit of weeks_faster_shrunken",
    "gap_persons": "How many more persons reached the event within the follow-up than expected (from the estimate)",
    "gap_persons_lo": "Lower limit of gap_persons", "gap_persons_hi": "Upper limit of gap_persons",
    "gap_persons_shrunken": "Posterior mean of the gap in persons",
    "gap_persons_shrunken_lo": "Lower limit of gap_persons_shrunken", "gap_persons_shrunken_hi": "Upper limit of gap_persons_shrunken",
    "distinguishable": "True when the data can tell the units of the group apart (the interval of tau excludes 0)",
    "rank_mean": "Mean rank over the posterior draws",
    "rank_sim_lo": "Simultaneous rank bound (best), holding for all units at once (Mogstad et al. 2024)",
    "rank_sim_hi": "Simultaneous rank bound (worst), holding for all units at once",
    "in_top_fifth_set": "In the confidence set of the top fifth (holds every truly top-fifth unit at the interval level)",
    "in_bottom_fifth_set": "In the confidence set of the bottom fifth",
    "p_bottom_fifth": "Posterior probability of being in the bottom fifth",
    "peers": "Codes of the units with the most similar framework conditions",
    "vs_peers_pct": "% faster than the mean of the peers (posterior)",
    "vs_peers_pct_lo": "Lower limit of vs_peers_pct", "vs_peers_pct_hi": "Upper limit of vs_peers_pct",
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
    "indicator_pct": "Headline indicator: % faster (positive) or slower than expected, 100 sign(theta) (1 - exp(-|theta|)) "
                     "of theta = log(O/E): the unit's own data",
    "indicator_lower": "Lower limit of the indicator (%; default 90 %)",
    "indicator_upper": "Upper limit of the indicator (%; default 90 %)",
    "weeks_difference": "Expected - observed restricted mean time (weeks); positive = faster",
    "weeks_lower": "Lower limit of the weeks difference (default 90 %)",
    "weeks_upper": "Upper limit of the weeks difference (default 90 %)",
    "indicator_eb": "Shrunken indicator (%): posterior mean of the hierarchy",
    "eb_lower": "Lower limit of the shrunken indicator (%; default 90 %)",
    "eb_upper": "Upper limit of the shrunken indicator (%; default 90 %)",
    "rank": "Rank among ranked units, 1 = best (highest shrunken indicator); empty when the units cannot be told apart",
    "rank_lower": "Lower limit of the marginal rank interval over the posterior draws (best plausible rank; default 90 %)",
    "rank_upper": "Upper limit of the marginal rank interval (worst plausible rank; default 90 %)",
    "p_top_fifth": "Posterior probability of being in the best fifth",
    "fifth": "Fifth of the ranking, 1 = best",
    "class": "Class: better / worse (interval excludes 0 after false discovery rate control), as_expected (the whole "
             "interval within ±5 %), not_distinguishable, too_small (below the minimum persons or expected events)",
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
