-- Person-weeks that occur more than once in the staged year (must be none).
-- Returns: duplicated_rows
SELECT coalesce(sum(n), 0) AS duplicated_rows
FROM (SELECT count(*) AS n FROM stage.person_weeks GROUP BY PNR, week_seq HAVING count(*) > 1)
