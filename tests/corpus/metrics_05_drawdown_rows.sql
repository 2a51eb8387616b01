-- rules: series_to_aggregate
-- Maximum drawdown over rows in day order, the peak kept as its own column, with the
-- strategy's total and best day beside it.
WITH eq AS (
  SELECT strategy_id, trade_date, pnl,
         SUM(pnl) OVER (PARTITION BY strategy_id ORDER BY trade_date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS equity
  FROM pnl
), peaks AS (
  SELECT strategy_id, pnl, equity,
         MAX(equity) OVER (PARTITION BY strategy_id ORDER BY trade_date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS high
  FROM eq
)
SELECT p.strategy_id AS id, MAX(p.high - p.equity) AS worst_fall, SUM(p.pnl) AS total, MAX(p.pnl) AS best_day
FROM peaks AS p
GROUP BY p.strategy_id
ORDER BY id
