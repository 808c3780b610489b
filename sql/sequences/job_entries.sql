-- The weekly state sequences of one target group over the window of cohort years with the
-- success event (the first job entry) and the municipality at entry; a person who enters
-- the group in several cohort years counts once, in the first (as sequences.sql).
-- Parameters: $group, $years
SELECT o.PNR, o.cohort_year, o.kom, o.followup_weeks, o.success_event, o.success_weeks, o.sequence
FROM outcomes.outcomes o
WHERE o.target_group = $group
  AND list_contains($years, o.cohort_year)
  AND o.sequence IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY o.PNR ORDER BY o.cohort_year) = 1
