-- Outcome consistency: one row per cohort member; durations within the follow-up;
-- event flags agree with the exit type; sequences as long as the observed weeks.
-- Parameters: $cohort_year. Returns one row of counts.
SELECT
    (SELECT count(*) FROM stage.outcomes) AS outcome_rows,
    (SELECT count(*) FROM cohorts.cohort_members WHERE cohort_year = $cohort_year) AS member_rows,
    (SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM stage.outcomes GROUP BY PNR, target_group HAVING count(*) > 1)) AS duplicated,
    (SELECT count(*) FROM stage.outcomes WHERE success_weeks < 0 OR success_weeks > followup_weeks
                                           OR partial_weeks < 0 OR partial_weeks > followup_weeks) AS duration_outside,
    (SELECT count(*) FROM stage.outcomes WHERE success_event <> (exit_type = 'success')) AS flag_mismatch,
    (SELECT count(*) FROM stage.outcomes WHERE success_event AND success_weeks < 1) AS event_at_zero,
    (SELECT count(*) FROM stage.outcomes WHERE coalesce(len(sequence), 0) <> observed_weeks) AS sequence_length_mismatch
