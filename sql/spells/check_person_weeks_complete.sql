-- Every DREAM person has every ISO week of the year exactly once.
-- Parameters: $n_weeks. Returns: expected_rows, staged_rows, unmapped_rows
SELECT
    (SELECT count(*) FROM raw.dream) * $n_weeks AS expected_rows,
    (SELECT count(*) FROM stage.person_weeks) AS staged_rows,
    (SELECT count(*) FROM stage.person_weeks WHERE state IS NULL OR state_code IS NULL) AS unmapped_rows
