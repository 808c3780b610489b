-- One ISO year of DREAM's weekly codes as person-weeks, mapped through the codebook,
-- with job weeks marked from the monthly employment degree and the year's municipality.
-- Reads the temporary view _dream_year (PNR, kom, week, code, grad, prev_code, prev_grad):
-- the year's weekly codes unpivoted, in one pass over raw.dream, together with the
-- employment degree of the month holding each week's Monday and the same two values of
-- the week before (NULL in week 1). A blank week is a job week (JOB) when that degree is
-- > 0, otherwise NONE. Codes absent from the codebook get $unknown_state.
-- spell_start is true when the week's state differs from the week before (and in week 1,
-- because spells are cut at the turn of the year): spells/spells.sql collapses the
-- year from these rows only, so the collapse needs no sort of all person-weeks.
-- ISO weeks of a year are consecutive, so week_seq (weeks since Monday 2000-01-03) is
-- the year's first week_seq + week - 1.
-- The asset inserts these rows straight into spells.person_weeks inside the transaction
-- that deletes the year and validates it, so each row is written once.
-- Parameters: $year, $first_week_seq, $unknown_state
WITH cb AS (
    SELECT code, state FROM ref.dream_codebook WHERE code <> ''
),
d AS (
    -- raw.dream's codes are already trimmed, with blanks as NULL (typed by the contract)
    SELECT PNR, kom, CAST(week AS INTEGER) AS week, code, grad, prev_code, prev_grad
    FROM _dream_year
),
mapped AS (
    SELECT d.PNR, d.kom, d.week, d.code,
           CASE WHEN d.code IS NULL THEN (CASE WHEN d.grad > 0 THEN 'JOB' ELSE 'NONE' END)
                ELSE coalesce(cb.state, $unknown_state) END AS state,
           CASE WHEN d.week = 1 THEN NULL
                WHEN d.prev_code IS NULL THEN (CASE WHEN d.prev_grad > 0 THEN 'JOB' ELSE 'NONE' END)
                ELSE coalesce(pb.state, $unknown_state) END AS prev_state
    FROM d
    LEFT JOIN cb ON cb.code = d.code
    LEFT JOIN cb pb ON pb.code = d.prev_code
)
SELECT
    PNR,
    CAST($year AS SMALLINT) AS year,
    CAST(week AS SMALLINT) AS week,
    CAST($first_week_seq + week - 1 AS INTEGER) AS week_seq,
    code,
    state,
    CAST(kom AS SMALLINT) AS kom,
    state IS DISTINCT FROM prev_state AS spell_start
FROM mapped
