-- One row per person for the benchmark of one target group, pooled over the window of
-- cohort years: outcomes joined with covariates and framework conditions. A person who
-- enters the same group in several cohort years counts once, in the first.
-- Parameters: $group, $years
SELECT
    o.PNR,
    CAST(o.cohort_year AS BIGINT) AS cohort_year,
    CAST(o.kom AS BIGINT) AS kom,
    CAST(o.followup_weeks AS BIGINT) AS followup_weeks,
    CAST(o.success_weeks AS BIGINT) AS success_weeks,
    CAST(o.success_event AS BIGINT) AS success_event,
    CAST(o.partial_weeks AS BIGINT) AS partial_weeks,
    CAST(o.partial_event AS BIGINT) AS partial_event,
    CAST(m.age AS DOUBLE) AS age,
    CAST(m.female AS DOUBLE) AS female,
    CAST(m.children AS DOUBLE) AS children,
    CAST(m.years_in_dk AS DOUBLE) AS years_in_dk,
    CAST(m.prior_employment_weeks AS DOUBLE) AS prior_employment_weeks,
    CAST(m.prior_benefit_weeks AS DOUBLE) AS prior_benefit_weeks,
    CAST(m.prior_sick_weeks AS DOUBLE) AS prior_sick_weeks,
    m.origin_region,
    m.civil_status,
    CAST(m.education_level AS VARCHAR) AS education_level,
    m.ledighed_pendling,
    m.job_pr_indb,
    m.andel_ikkevestlig,
    m.andel_industri
FROM outcomes.outcomes o
JOIN cohorts.cohort_members m
  ON m.PNR = o.PNR AND m.target_group = o.target_group AND m.cohort_year = o.cohort_year
WHERE o.target_group = $group
  AND list_contains($years, o.cohort_year)
QUALIFY row_number() OVER (PARTITION BY o.PNR ORDER BY o.cohort_year) = 1
