-- A user's maximum drawdown and total, as nested derived tables (not in tests/corpus).
SELECT strategy_id, MAX(peak - equity) AS max_dd, SUM(pnl) AS roi
FROM (
  SELECT strategy_id, pnl, equity,
         MAX(equity) OVER (PARTITION BY strategy_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS peak
  FROM (
    SELECT strategy_id, seq, pnl,
           SUM(pnl) OVER (PARTITION BY strategy_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS equity
    FROM pnl
  ) AS e
) AS d
GROUP BY strategy_id
