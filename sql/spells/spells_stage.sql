-- Collapse one ISO year of person-weeks to spells: maximal runs of the same state
-- (gaps and islands). A spell that goes on from the last week of the previous year
-- is flagged, so "a new spell" can be told from a continuing one.
-- Parameters: $year, $first_week_seq (week_seq of the year's first ISO week)
CREATE OR REPLACE TABLE stage.spells AS
WITH pw AS (
    SELECT PNR, week_seq, state
    FROM spells.person_weeks
    WHERE year = $year
),
prev AS (
    SELECT PNR, arg_max(state, week_seq) AS prev_state
    FROM spells.person_weeks
    WHERE year = $year - 1
    GROUP BY PNR
),
islands AS (
    SELECT PNR, state, week_seq,
           week_seq - row_number() OVER (PARTITION BY PNR, state ORDER BY week_seq) AS island
    FROM pw
)
SELECT
    i.PNR,
    CAST($year AS SMALLINT) AS year,
    i.state,
    min(i.week_seq) AS start_week_seq,
    max(i.week_seq) AS end_week_seq,
    CAST(count(*) AS SMALLINT) AS n_weeks,
    coalesce(min(i.week_seq) = $first_week_seq AND any_value(p.prev_state) = i.state, false) AS continues_previous_year
FROM islands i
LEFT JOIN prev p ON p.PNR = i.PNR
GROUP BY i.PNR, i.state, i.island
