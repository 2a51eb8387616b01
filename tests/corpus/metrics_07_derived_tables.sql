-- rules: series_to_aggregate
-- Maximum drawdown and total as nested derived tables instead of CTEs, the running frames
-- written `ROWS UNBOUNDED PRECEDING`.
SELECT strategy_id, MAX(peak - equity) AS max_dd, SUM(pnl) AS roi
FROM (
  SELECT strategy_id, pnl, equity,
         MAX(equity) OVER (PARTITION BY strategy_id ORDER BY trade_date ROWS UNBOUNDED PRECEDING) AS peak
  FROM (
    SELECT strategy_id, trade_date, pnl,
           SUM(pnl) OVER (PARTITION BY strategy_id ORDER BY trade_date ROWS UNBOUNDED PRECEDING) AS equity
    FROM pnl
  ) AS e
) AS d
GROUP BY strategy_id
ORDER BY strategy_id
