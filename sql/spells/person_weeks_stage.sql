-- One ISO year of DREAM's weekly codes as person-weeks, mapped through the codebook,
-- with job weeks marked from the monthly employment degree and the year's municipality.
-- A blank week is a job week (JOB) when GRAD of the month holding its Monday is > 0,
-- otherwise NONE. Codes absent from the codebook get $unknown_state.
-- Parameters: $year, $week_pattern, $grad_pattern, $kom_pattern, $alphabet, $unknown_state
CREATE OR REPLACE TABLE stage.person_weeks AS
WITH codes AS (
    SELECT PNR, CAST(substr(col, 5, 2) AS SMALLINT) AS week, nullif(trim(code), '') AS code
    FROM (SELECT PNR, COLUMNS($week_pattern) FROM raw.dream)
    UNPIVOT INCLUDE NULLS (code FOR col IN (COLUMNS($week_pattern)))
),
grad AS (
    SELECT PNR, CAST(substr(col, 6, 4) AS INTEGER) AS gy, CAST(substr(col, 11, 2) AS INTEGER) AS gm, grad
    FROM (SELECT PNR, COLUMNS($grad_pattern) FROM raw.dream)
    UNPIVOT (grad FOR col IN (COLUMNS($grad_pattern)))
),
kom AS (
    SELECT PNR, kom
    FROM (SELECT PNR, COLUMNS($kom_pattern) FROM raw.dream)
    UNPIVOT (kom FOR col IN (COLUMNS($kom_pattern)))
),
dated AS (
    SELECT c.*,
           CAST(make_date($year, 1, 4) - to_days(CAST(isodow(make_date($year, 1, 4)) - 1 AS INTEGER)) + to_days(CAST((c.week - 1) * 7 AS INTEGER)) AS DATE) AS week_start
    FROM codes c
)
SELECT
    d.PNR,
    CAST($year AS SMALLINT) AS year,
    d.week,
    d.week_start,
    CAST(date_diff('day', DATE '2000-01-03', d.week_start) // 7 AS INTEGER) AS week_seq,
    d.code,
    s.state,
    CAST(list_position($alphabet, s.state) - 1 AS UTINYINT) AS state_code,
    s.state = 'JOB' AS job,
    coalesce(cb.exclusion, '') AS exclusion,
    coalesce(cb.private_employer, false) AS private_employer,
    cb.code IS NULL AND d.code IS NOT NULL AS unknown_code,
    CAST(k.kom AS SMALLINT) AS kom
FROM dated d
LEFT JOIN ref.dream_codebook cb ON cb.code = coalesce(d.code, '')
LEFT JOIN grad g ON g.PNR = d.PNR AND g.gy = year(d.week_start) AND g.gm = month(d.week_start)
LEFT JOIN kom k ON k.PNR = d.PNR
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN d.code IS NULL AND coalesce(g.grad, 0) > 0 THEN 'JOB'
        WHEN d.code IS NULL THEN 'NONE'
        ELSE coalesce(cb.state, $unknown_state)
    END AS state
) s
