-- A user's maximum drawdown and total, windows with their default frames (not in tests/corpus).
WITH eq AS (
  SELECT strategy_id, trade_date, pnl,
         SUM(pnl) OVER (PARTITION BY strategy_id ORDER BY trade_date) AS equity
  FROM pnl
), dd AS (
  SELECT strategy_id, pnl, MAX(equity) OVER (PARTITION BY strategy_id ORDER BY trade_date) - equity AS drop_from_peak
  FROM eq
)
SELECT strategy_id, MAX(drop_from_peak) AS max_drawdown, SUM(pnl) AS total
FROM dd GROUP BY strategy_id ORDER BY max_drawdown DESC LIMIT 10
