-- Activity indicators per target group and municipality over the window of cohort years:
-- the share of all follow-up weeks spent on passive support, and the share of persons
-- ever in company internship or wage subsidy (a person counts once, in the first cohort).
-- Parameters: $years, $passive_code, $active_codes
WITH persons AS (
    SELECT o.target_group, o.kom, o.PNR, o.sequence
    FROM outcomes.outcomes o
    WHERE list_contains($years, o.cohort_year) AND o.sequence IS NOT NULL AND len(o.sequence) > 0
    QUALIFY row_number() OVER (PARTITION BY o.PNR, o.target_group ORDER BY o.cohort_year) = 1
)
SELECT
    target_group,
    CAST(kom AS BIGINT) AS kom,
    count(*) AS persons,
    sum(len(list_filter(sequence, lambda x: x = $passive_code))) / sum(len(sequence)) AS share_weeks_passive,
    avg(CAST(list_has_any(sequence, $active_codes) AS INTEGER)) AS share_wage_subsidy_or_internship
FROM persons
GROUP BY ALL
