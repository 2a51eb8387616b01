-- The inversion report's figures per inverted strategy: original and inverted ROI, worst day
-- (dd) and roi / |dd| (+inf when dd = 0), in the order of the new strategy positions.
WITH figures AS (
  SELECT strategy_id, SUM(pnl) AS roi, MIN(pnl) AS dd, MAX(pnl) AS best
  FROM pnl
  GROUP BY strategy_id
)
SELECT s.name AS strategy,
       f.roi AS original_roi,
       -f.roi AS inverted_roi,
       f.dd AS original_drawdown,
       -f.best AS inverted_drawdown,
       CASE WHEN f.dd = 0 THEN CAST('inf' AS DOUBLE) ELSE f.roi / ABS(f.dd) END AS original_ratio,
       CASE WHEN f.best = 0 THEN CAST('inf' AS DOUBLE) ELSE -f.roi / ABS(f.best) END AS inverted_ratio
FROM strategies_ulta AS s
JOIN figures AS f ON f.strategy_id = s.source_id
WHERE s.inverted
ORDER BY s.strategy_id
