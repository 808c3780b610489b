-- Cohort members with their municipality, covariates and framework conditions.
-- Municipality at entry = the municipality (NYKOM) of the week the clock starts; the
-- municipality with most weeks in the follow-up is kept beside it ($mover_rule picks).
-- History covariates count weeks in the $history_weeks weeks before the start.
-- Education level: HFAUDD (DST's UDD code, not systematic) through ref.hfaudd_codes; unknown codes are level 0.
-- Parameters: $cohort_year, $followup_weakest, $followup_permit, $history_weeks,
--             $support_states, $mover_rule
CREATE OR REPLACE TABLE stage.cohort_members AS
WITH e AS (
    SELECT e.*,
           CAST(e.start_date - to_days(CAST(isodow(e.start_date) - 1 AS INTEGER)) AS DATE) AS start_week_start,
           CASE WHEN e.target_group = 'svage_indvandrere' THEN $followup_weakest ELSE $followup_permit END AS followup_weeks
    FROM stage.cohort_entrants e
),
e2 AS (
    SELECT *, CAST(date_diff('day', DATE '2000-01-03', start_week_start) // 7 AS INTEGER) AS start_week_seq FROM e
),
hist AS (
    SELECT e2.PNR, e2.target_group,
           count(*) FILTER (WHERE pw.state = 'JOB') AS prior_employment_weeks,
           count(*) FILTER (WHERE list_contains($support_states, pw.state)) AS prior_benefit_weeks,
           count(*) FILTER (WHERE pw.state = 'SICK') AS prior_sick_weeks
    FROM e2
    JOIN spells.person_weeks pw
      ON pw.PNR = e2.PNR AND pw.week_seq BETWEEN e2.start_week_seq - $history_weeks AND e2.start_week_seq - 1
    GROUP BY e2.PNR, e2.target_group
),
entry_kom AS (
    SELECT e2.PNR, e2.target_group, pw.kom AS kom_entry
    FROM e2 JOIN spells.person_weeks pw ON pw.PNR = e2.PNR AND pw.week_seq = e2.start_week_seq
),
longest_kom AS (
    SELECT PNR, target_group, arg_max(kom, n) AS kom_longest
    FROM (
        SELECT e2.PNR, e2.target_group, pw.kom, count(*) AS n
        FROM e2
        JOIN spells.person_weeks pw
          ON pw.PNR = e2.PNR AND pw.week_seq BETWEEN e2.start_week_seq AND e2.start_week_seq + e2.followup_weeks - 1
        WHERE pw.kom IS NOT NULL
        GROUP BY ALL
    )
    GROUP BY PNR, target_group
),
bef AS (SELECT * FROM raw.bef WHERE AAR = $cohort_year),
udda AS (
    SELECT PNR, arg_max(HFAUDD, AAR) AS HFAUDD
    FROM raw.udda WHERE AAR BETWEEN $cohort_year - 1 AND $cohort_year AND HFAUDD IS NOT NULL
    GROUP BY PNR
),
base AS (
    SELECT
        e2.PNR, e2.target_group, e2.cohort_year, e2.start_date, e2.start_week_seq, e2.followup_weeks,
        coalesce(k.kom_entry, b.KOM) AS kom_entry,
        coalesce(l.kom_longest, k.kom_entry, b.KOM) AS kom_longest,
        date_sub('year', d.FOEDDT, e2.start_date) AS age,
        CASE WHEN d.KON = 'K' OR b.KOEN = 2 THEN 1 ELSE 0 END AS female,
        coalesce(c.origin_region, 'unknown') AS origin_region,
        CASE coalesce(b.CIVST, d.CIVILSTAND)
            WHEN 'G' THEN 'married' WHEN 'P' THEN 'married'
            WHEN 'U' THEN 'single'
            WHEN 'F' THEN 'divorced_widowed' WHEN 'E' THEN 'divorced_widowed'
            WHEN 'O' THEN 'divorced_widowed' WHEN 'L' THEN 'divorced_widowed'
            ELSE 'unknown' END AS civil_status,
        least(coalesce(b.ANTBOERNF, 0), 3) AS children,
        coalesce(CAST(hc.level AS INTEGER), 0) AS education_level,
        CASE WHEN b.INDVAN_FOERSTE IS NULL THEN 0.0
             ELSE greatest(date_diff('day', b.INDVAN_FOERSTE, e2.start_date) / 365.25, 0.0) END AS years_in_dk,
        coalesce(h.prior_employment_weeks, 0) AS prior_employment_weeks,
        coalesce(h.prior_benefit_weeks, 0) AS prior_benefit_weeks,
        coalesce(h.prior_sick_weeks, 0) AS prior_sick_weeks
    FROM e2
    JOIN raw.dream d ON d.PNR = e2.PNR
    LEFT JOIN bef b ON b.PNR = e2.PNR
    LEFT JOIN ref.countries c ON c.OPR_LAND = b.OPR_LAND
    LEFT JOIN udda u ON u.PNR = e2.PNR
    LEFT JOIN ref.hfaudd_codes hc ON hc.HFAUDD = u.HFAUDD
    LEFT JOIN hist h ON h.PNR = e2.PNR AND h.target_group = e2.target_group
    LEFT JOIN entry_kom k ON k.PNR = e2.PNR AND k.target_group = e2.target_group
    LEFT JOIN longest_kom l ON l.PNR = e2.PNR AND l.target_group = e2.target_group
)
SELECT
    base.*,
    CAST(CASE WHEN $mover_rule = 'longest' THEN base.kom_longest ELSE base.kom_entry END AS SMALLINT) AS kom,
    r.LEDIGHED_PENDLING AS ledighed_pendling,
    r.JOB_PR_INDB AS job_pr_indb,
    r.ANDEL_IKKEVESTLIG AS andel_ikkevestlig,
    r.ANDEL_INDUSTRI AS andel_industri
FROM base
LEFT JOIN raw.rammevilkaar r
  ON r.AAR = base.cohort_year
 AND r.KOM = CASE WHEN $mover_rule = 'longest' THEN base.kom_longest ELSE base.kom_entry END
