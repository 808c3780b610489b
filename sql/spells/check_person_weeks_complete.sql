-- Every DREAM person has every ISO week of the year exactly once, each with a state of
-- the alphabet. Parameters: $year, $n_weeks, $alphabet. Returns: expected_rows, written_rows, unmapped_rows
SELECT
    (SELECT count(*) FROM raw.dream) * $n_weeks AS expected_rows,
    count(*) AS written_rows,
    count(*) FILTER (WHERE state IS NULL OR NOT list_contains($alphabet, state)) AS unmapped_rows
FROM spells.person_weeks
WHERE year = $year
