-- Person-weeks are unique when every DREAM person is unique: each weekly column is
-- unpivoted once per row. Returns: duplicated_persons (rows of raw.dream beyond one per PNR)
SELECT count(*) - count(DISTINCT PNR) AS duplicated_persons FROM raw.dream
