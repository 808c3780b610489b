-- Refugees or family-reunified entering in the cohort year: first residence permit of
-- the group's legal basis in the year, non-western origin, covered by the integration
-- act (integration programme registered), aged $age_min-$age_max when the clock starts.
-- The clock starts at the permit date, or at the programme start when $clock = 'programme'.
-- Parameters: $cohort_year, $group, $age_min, $age_max, $require_programme, $clock
INSERT INTO stage.cohort_entrants
WITH first_permit AS (
    SELECT o.PNR, min(o.TILLADELSESDATO) AS permit_date
    FROM raw.ophg o
    JOIN ref.ophg_grundlag g ON g.GRUNDLAG = o.GRUNDLAG
    WHERE g.target_group = $group
    GROUP BY o.PNR
),
bef AS (
    SELECT PNR, OPR_LAND FROM raw.bef WHERE AAR = $cohort_year
),
entrants AS (
    SELECT f.PNR,
           CASE WHEN $clock = 'programme' AND d.INTPGMSTDT IS NOT NULL THEN d.INTPGMSTDT
                ELSE f.permit_date END AS start_date,
           d.FOEDDT, d.INTPGMSTDT, b.OPR_LAND
    FROM first_permit f
    JOIN raw.dream d ON d.PNR = f.PNR
    JOIN bef b ON b.PNR = f.PNR
    WHERE year(f.permit_date) = $cohort_year
)
SELECT e.PNR, CAST($group AS VARCHAR) AS target_group, CAST($cohort_year AS SMALLINT) AS cohort_year, e.start_date
FROM entrants e
JOIN ref.countries c ON c.OPR_LAND = e.OPR_LAND
WHERE NOT c.western
  AND (NOT $require_programme OR e.INTPGMSTDT IS NOT NULL)
  AND date_sub('year', e.FOEDDT, e.start_date) BETWEEN $age_min AND $age_max
