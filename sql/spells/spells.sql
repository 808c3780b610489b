-- Collapse one ISO year of person-weeks to spells: maximal runs of the same state.
-- A spell begins at every person-week flagged spell_start (state differs from the week
-- before, or week 1) and ends the week before the person's next spell begins, or in the
-- year's last week. Only the spell starts are ordered (about 1 row in 30), so the
-- collapse needs no sort of the year's person-weeks; check_spells.sql proves the result
-- against the person-weeks (weeks per person and state).
-- A spell that goes on from the last week of the previous year is flagged, so "a new
-- spell" can be told from a continuing one.
-- The asset inserts these rows straight into spells.spells inside the transaction that
-- deletes the year and validates it (check_spells.sql), so each row is written once.
-- Parameters: $year, $first_week_seq, $last_week_seq (week_seq of the year's first and last ISO week)
WITH runs AS (
    SELECT PNR, state, week_seq AS start_week_seq,
           lead(week_seq, 1, $last_week_seq + 1) OVER (PARTITION BY PNR ORDER BY week_seq) - 1 AS end_week_seq
    FROM spells.person_weeks
    WHERE year = $year AND spell_start
),
prev AS (
    SELECT PNR, state AS prev_state
    FROM spells.person_weeks
    WHERE year = $year - 1 AND week_seq = $first_week_seq - 1
)
SELECT
    r.PNR,
    CAST($year AS SMALLINT) AS year,
    r.state,
    r.start_week_seq,
    r.end_week_seq,
    CAST(r.end_week_seq - r.start_week_seq + 1 AS SMALLINT) AS n_weeks,
    coalesce(r.start_week_seq = $first_week_seq AND p.prev_state = r.state, false) AS continues_previous_year
FROM runs r
LEFT JOIN prev p ON p.PNR = r.PNR AND r.start_week_seq = $first_week_seq
