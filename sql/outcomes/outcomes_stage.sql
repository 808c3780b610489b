-- Outcomes of one cohort year, one row per member and target group.
-- Week t = 1 is the week the clock starts. Success: the first week of the first run of at
-- least $run_length consecutive JOB weeks starting within the follow-up (the run may end
-- after it). Partial success: the first week in private company internship or private
-- wage subsidy. Exits: a censoring code (997-999) always censors; education and the
-- excluded benefits (pensions, maternity, ...) censor when $education_exit /
-- $exclusion_exit = 'censor'. A censoring exit in week t gives duration t - 1 (weeks fully
-- observed); an event in week t gives duration t. With no event and no exit the duration
-- is the follow-up, or the last week with register data (exit 'end_of_data').
-- The weekly state sequence over the follow-up is kept as a list of state codes (the
-- state's position in $alphabet, from 0).
-- Parameters: $cohort_year, $run_length, $education_exit, $exclusion_exit, $partial_states, $alphabet
CREATE OR REPLACE TABLE stage.outcomes AS
WITH m AS (
    SELECT PNR, target_group, cohort_year, kom, start_week_seq, followup_weeks
    FROM cohorts.cohort_members
    WHERE cohort_year = $cohort_year
),
w AS (
    SELECT m.PNR, m.target_group, m.followup_weeks,
           pw.week_seq - m.start_week_seq + 1 AS t,
           pw.state, CAST(list_position($alphabet, pw.state) - 1 AS UTINYINT) AS state_code,
           coalesce(cb.exclusion, '') <> '' AS excluded, coalesce(cb.private_employer, false) AS private_employer
    FROM m
    JOIN spells.person_weeks pw
      ON pw.PNR = m.PNR
     AND pw.week_seq BETWEEN m.start_week_seq AND m.start_week_seq + m.followup_weeks + $run_length - 2
    LEFT JOIN ref.dream_codebook cb ON cb.code = pw.code
),
flags AS (
    SELECT *,
           sum(CASE WHEN state = 'JOB' THEN 1 ELSE 0 END) OVER run_window AS job_ahead
    FROM w
    WINDOW run_window AS (PARTITION BY PNR, target_group ORDER BY t ROWS BETWEEN CURRENT ROW AND $run_length - 1 FOLLOWING)
),
per_person AS (
    SELECT PNR, target_group, any_value(followup_weeks) AS followup_weeks,
           min(t) FILTER (WHERE state = 'JOB' AND job_ahead = $run_length AND t <= followup_weeks) AS t_success,
           min(t) FILTER (WHERE private_employer AND list_contains($partial_states, state) AND t <= followup_weeks) AS t_partial,
           min(t) FILTER (WHERE state = 'CENS' AND t <= followup_weeks) AS t_cens,
           min(t) FILTER (WHERE state = 'EDU' AND t <= followup_weeks) AS t_edu,
           min(t) FILTER (WHERE excluded AND t <= followup_weeks) AS t_excl,
           max(t) FILTER (WHERE t <= followup_weeks) AS t_last,
           list(state_code ORDER BY t) FILTER (WHERE t <= followup_weeks) AS sequence
    FROM flags
    GROUP BY PNR, target_group
),
exits AS (
    SELECT *,
           least(t_cens,
                 CASE WHEN $education_exit = 'censor' THEN t_edu END,
                 CASE WHEN $exclusion_exit = 'censor' THEN t_excl END) AS t_exit
    FROM per_person
),
resolved AS (
    SELECT *,
           t_success IS NOT NULL AND (t_exit IS NULL OR t_success < t_exit) AS success_event,
           t_partial IS NOT NULL AND (t_exit IS NULL OR t_partial < t_exit) AS partial_event,
           CASE WHEN t_exit IS NULL AND t_last < followup_weeks THEN 'end_of_data'
                WHEN t_exit IS NULL THEN 'end_of_followup'
                WHEN t_exit = t_cens THEN 'censoring_code'
                WHEN t_exit = t_edu THEN 'education'
                ELSE 'excluded' END AS censoring_reason
    FROM exits
)
SELECT
    m.PNR, m.target_group, m.cohort_year, m.kom, m.followup_weeks,
    CAST(CASE WHEN r.success_event THEN r.t_success
              WHEN r.t_exit IS NOT NULL THEN r.t_exit - 1
              ELSE coalesce(r.t_last, 0) END AS SMALLINT) AS success_weeks,
    coalesce(r.success_event, false) AS success_event,
    CAST(CASE WHEN r.partial_event THEN r.t_partial
              WHEN r.t_exit IS NOT NULL THEN r.t_exit - 1
              ELSE coalesce(r.t_last, 0) END AS SMALLINT) AS partial_weeks,
    coalesce(r.partial_event, false) AS partial_event,
    CASE WHEN r.success_event THEN 'success' ELSE coalesce(r.censoring_reason, 'no_data') END AS exit_type,
    CAST(r.t_edu AS SMALLINT) AS education_week,
    CAST(coalesce(r.t_last, 0) AS SMALLINT) AS observed_weeks,
    r.sequence
FROM m
LEFT JOIN resolved r ON r.PNR = m.PNR AND r.target_group = m.target_group
