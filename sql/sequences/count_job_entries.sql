-- Independent count for the paths-to-job check: persons of one target group over the window
-- of cohort years (each once, in the first cohort) whose success event lies within the
-- follow-up, and how many of them had a company internship or wage subsidy week in the
-- $lookback weeks before it (within the follow-up).
-- Parameters: $group, $years, $lookback, $wsi_codes
WITH p AS (
    SELECT o.success_event, o.success_weeks, o.sequence
    FROM outcomes.outcomes o
    WHERE o.target_group = $group
      AND list_contains($years, o.cohort_year)
      AND o.sequence IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY o.PNR ORDER BY o.cohort_year) = 1
)
SELECT
    count(*) FILTER (WHERE success_event) AS job_entries,
    count(*) FILTER (WHERE success_event AND list_has_any(
        list_slice(sequence, greatest(1, success_weeks - $lookback), success_weeks - 1), $wsi_codes)) AS via_wsi
FROM p
