-- One ISO year of DREAM's weekly codes as person-weeks, mapped through the codebook,
-- with job weeks marked from the monthly employment degree and the year's municipality.
-- Reads the temporary view _dream_year (PNR, kom, week, code, grad): the year's weekly
-- codes unpivoted together with the employment degree of the month holding each week's
-- Monday, in one pass over raw.dream (built from the contract-validated column names).
-- A blank week is a job week (JOB) when that degree is > 0, otherwise NONE. Codes absent
-- from the codebook get $unknown_state. Week dates, codebook and state codes are small
-- lookup tables joined by hash, so the big pass does no per-row date arithmetic.
-- The asset inserts this query's rows straight into spells.person_weeks inside the
-- transaction that deletes the year and validates it, so each row is written once.
-- Parameters: $year, $alphabet, $unknown_state
WITH wk AS (
    SELECT CAST(w AS SMALLINT) AS week,
           CAST(make_date($year, 1, 4) - to_days(CAST(isodow(make_date($year, 1, 4)) - 1 AS INTEGER))
                + to_days(CAST((w - 1) * 7 AS INTEGER)) AS DATE) AS week_start
    FROM range(1, 54) t(w)
),
cb AS (
    SELECT code, state, exclusion, private_employer FROM ref.dream_codebook WHERE code <> ''
),
st AS (
    SELECT s.state, CAST(s.i - 1 AS UTINYINT) AS state_code
    FROM (SELECT unnest($alphabet) AS state, generate_subscripts($alphabet, 1) AS i) s
),
pw AS (
    SELECT d.PNR, wk.week, wk.week_start, d.code, CAST(d.kom AS SMALLINT) AS kom,
           CASE WHEN d.code IS NULL THEN (CASE WHEN d.grad > 0 THEN 'JOB' ELSE 'NONE' END)
                ELSE coalesce(cb.state, $unknown_state) END AS state,
           coalesce(cb.exclusion, '') AS exclusion,
           coalesce(cb.private_employer, false) AS private_employer,
           cb.code IS NULL AND d.code IS NOT NULL AS unknown_code
    FROM (SELECT PNR, kom, CAST(week AS SMALLINT) AS week, nullif(trim(code), '') AS code, grad FROM _dream_year) d
    JOIN wk ON wk.week = d.week
    LEFT JOIN cb ON cb.code = d.code
)
SELECT
    pw.PNR,
    CAST($year AS SMALLINT) AS year,
    pw.week,
    pw.week_start,
    CAST(date_diff('day', DATE '2000-01-03', pw.week_start) // 7 AS INTEGER) AS week_seq,
    pw.code,
    pw.state,
    st.state_code,
    pw.state = 'JOB' AS job,
    pw.exclusion,
    pw.private_employer,
    pw.unknown_code,
    pw.kom
FROM pw
LEFT JOIN st ON st.state = pw.state
