-- Cohort validity: one row per person, group and cohort; start in the cohort year;
-- a valid municipality with framework conditions; ages within the group's limits.
-- Parameters: $cohort_year. Returns one row of counts.
SELECT
    (SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM stage.cohort_members GROUP BY PNR, target_group HAVING count(*) > 1)) AS duplicated,
    (SELECT count(*) FROM stage.cohort_members WHERE year(start_date) <> $cohort_year AND isoyear(start_date) <> $cohort_year) AS start_outside_year,
    (SELECT count(*) FROM stage.cohort_members m WHERE m.kom IS NULL OR m.kom NOT IN (SELECT kommunekode FROM ref.municipalities)) AS invalid_kom,
    (SELECT count(*) FROM stage.cohort_members WHERE ledighed_pendling IS NULL) AS missing_framework,
    (SELECT count(*) FROM stage.cohort_members WHERE age < 16 OR age > 64 OR (target_group <> 'svage_indvandrere' AND age < 18)) AS age_outside,
    (SELECT count(*) FROM stage.cohort_members) AS members
