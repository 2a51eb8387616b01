-- ULTA decisions as a new strategies table (CREATE TABLE AS SELECT, never an UPDATE).
-- Per strategy: roi = sum of P&L, dd = the worst single day, ratio = roi / |dd| (+inf when dd = 0);
-- a strategy with ratio < 0 is inverted when the inverted series' ratio is greater. Inverted
-- strategies are renamed <name>_inv and move after the others, keeping their relative order (the
-- legacy's column order): strategy_id is the new position, source_id the loaded one.
CREATE TABLE strategies_ulta AS
WITH figures AS (
  SELECT strategy_id, SUM(pnl) AS roi, MIN(pnl) AS dd, MAX(pnl) AS best
  FROM pnl
  GROUP BY strategy_id
), decided AS (
  SELECT strategy_id,
         CASE
           WHEN dd = 0 OR roi >= 0 THEN FALSE
           WHEN best = 0 THEN TRUE
           ELSE -roi / ABS(best) > roi / ABS(dd)
         END AS inverted
  FROM figures
)
SELECT CAST(ROW_NUMBER() OVER (ORDER BY decided.inverted, s.strategy_id) - 1 AS INT) AS strategy_id,
       s.strategy_id AS source_id,
       CASE WHEN decided.inverted THEN s.name || '_inv' ELSE s.name END AS name,
       s.file_label,
       decided.inverted
FROM strategies AS s
JOIN decided ON decided.strategy_id = s.strategy_id
