-- The weakest immigrants entering in the cohort year: a new spell on public support
-- (a support week after a week without support) starting in the cohort year, while the
-- job centre assesses problems beyond unemployment in that quarter (match group in
-- $match_groups to 2013, assessment in $visit_codes from 2014); immigrant (IE_TYPE 2) of
-- non-western origin, aged $age_min-$age_max, at least $min_years_in_dk years since
-- first immigration. The first qualifying spell of the year counts.
-- Parameters: $cohort_year, $support_states, $assess_pattern, $match_groups, $visit_codes,
--             $age_min, $age_max, $min_years_in_dk
INSERT INTO stage.cohort_entrants
WITH pw AS (
    SELECT pw.PNR, pw.year, pw.week_seq,
           CAST(DATE '2000-01-03' + to_days(CAST(7 * pw.week_seq AS INTEGER)) AS DATE) AS week_start,
           list_contains($support_states, pw.state) AND coalesce(cb.exclusion, '') = '' AS support
    FROM spells.person_weeks pw
    LEFT JOIN ref.dream_codebook cb ON cb.code = pw.code
    WHERE pw.year BETWEEN $cohort_year - 1 AND $cohort_year
),
starts AS (
    SELECT PNR, week_start
    FROM (
        SELECT *, lag(support) OVER (PARTITION BY PNR ORDER BY week_seq) AS prev_support
        FROM pw
    )
    WHERE year = $cohort_year AND support AND NOT coalesce(prev_support, false)
),
assessed AS (
    SELECT PNR, col, v
    FROM (SELECT PNR, COLUMNS($assess_pattern) FROM raw.dream)
    UNPIVOT (v FOR col IN (COLUMNS($assess_pattern)))
),
qualifying AS (
    SELECT s.PNR, min(s.week_start) AS start_date
    FROM starts s
    JOIN assessed a
      ON a.PNR = s.PNR
     AND CAST(regexp_extract(a.col, '_([1-4])KV', 1) AS INTEGER) = quarter(s.week_start)
     AND CAST(regexp_extract(a.col, 'KV([0-9]{4})', 1) AS INTEGER) = year(s.week_start)
    WHERE (a.col LIKE 'MATCH%' AND list_contains($match_groups, a.v))
       OR (a.col LIKE 'VISIT%' AND list_contains($visit_codes, a.v))
    GROUP BY s.PNR
)
SELECT q.PNR, 'svage_indvandrere' AS target_group, CAST($cohort_year AS SMALLINT) AS cohort_year, q.start_date
FROM qualifying q
JOIN raw.dream d ON d.PNR = q.PNR
JOIN (SELECT PNR, OPR_LAND, IE_TYPE, INDVAN_FOERSTE FROM raw.bef WHERE AAR = $cohort_year) b ON b.PNR = q.PNR
JOIN ref.countries c ON c.OPR_LAND = b.OPR_LAND
WHERE b.IE_TYPE = 2
  AND NOT c.western
  AND date_sub('year', d.FOEDDT, q.start_date) BETWEEN $age_min AND $age_max
  AND b.INDVAN_FOERSTE IS NOT NULL
  AND date_sub('year', b.INDVAN_FOERSTE, q.start_date) >= $min_years_in_dk
