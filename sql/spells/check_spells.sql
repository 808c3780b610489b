-- Spell validity for the staged year: start <= end, no overlaps within a person, and
-- spell weeks reconcile with person-weeks (so every person-week is in exactly one spell).
-- Parameters: $year. Returns: bad_order, overlaps, persons_not_reconciled, spell_weeks, person_weeks
WITH ordered AS (
    SELECT PNR, start_week_seq, end_week_seq,
           lag(end_week_seq) OVER (PARTITION BY PNR ORDER BY start_week_seq) AS prev_end
    FROM stage.spells
),
per_person AS (
    SELECT s.PNR, sum(s.n_weeks) AS spell_weeks, any_value(p.n) AS pw_weeks
    FROM stage.spells s
    LEFT JOIN (SELECT PNR, count(*) AS n FROM spells.person_weeks WHERE year = $year GROUP BY PNR) p USING (PNR)
    GROUP BY s.PNR
)
SELECT
    (SELECT count(*) FROM ordered WHERE start_week_seq > end_week_seq) AS bad_order,
    (SELECT count(*) FROM ordered WHERE prev_end IS NOT NULL AND start_week_seq <= prev_end) AS overlaps,
    (SELECT count(*) FROM per_person WHERE pw_weeks IS NULL OR spell_weeks <> pw_weeks) AS persons_not_reconciled,
    (SELECT coalesce(sum(n_weeks), 0) FROM stage.spells) AS spell_weeks,
    (SELECT count(*) FROM spells.person_weeks WHERE year = $year) AS person_weeks
