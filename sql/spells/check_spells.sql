-- Spell validity for the year just written to spells.spells (inside its transaction): start <= end, no overlaps within a person, and
-- spell weeks reconcile with person-weeks per person and state (so every person-week is
-- in exactly one spell, and in a spell of its own state).
-- Parameters: $year. Returns: bad_order, overlaps, cells_not_reconciled, spell_weeks, person_weeks
WITH sp AS (
    SELECT PNR, state, start_week_seq, end_week_seq, n_weeks FROM spells.spells WHERE year = $year
),
ordered AS (
    SELECT start_week_seq, end_week_seq,
           lag(end_week_seq) OVER (PARTITION BY PNR ORDER BY start_week_seq) AS prev_end
    FROM sp
),
from_spells AS (
    SELECT PNR, state, sum(n_weeks) AS n FROM sp GROUP BY PNR, state
),
from_weeks AS (
    SELECT PNR, state, count(*) AS n FROM spells.person_weeks WHERE year = $year GROUP BY PNR, state
)
SELECT
    (SELECT count(*) FROM ordered WHERE start_week_seq > end_week_seq) AS bad_order,
    (SELECT count(*) FROM ordered WHERE prev_end IS NOT NULL AND start_week_seq <= prev_end) AS overlaps,
    (SELECT count(*) FROM from_spells s FULL JOIN from_weeks w USING (PNR, state) WHERE s.n IS DISTINCT FROM w.n)
        AS cells_not_reconciled,
    (SELECT coalesce(sum(n_weeks), 0) FROM sp) AS spell_weeks,
    (SELECT count(*) FROM spells.person_weeks WHERE year = $year) AS person_weeks
