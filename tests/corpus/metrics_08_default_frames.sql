-- rules: series_to_aggregate
-- Maximum drawdown with the windows' default frames (`OVER (PARTITION BY ... ORDER BY
-- trade_date)`, RANGE): a running sum over rows only because no strategy has two rows on one
-- day, which the engine's facts show on a complete panel (with NULL values the rule declines).
WITH eq AS (
  SELECT strategy_id, trade_date, pnl,
         SUM(pnl) OVER (PARTITION BY strategy_id ORDER BY trade_date) AS equity
  FROM pnl
), dd AS (
  SELECT strategy_id, pnl,
         MAX(equity) OVER (PARTITION BY strategy_id ORDER BY trade_date) - equity AS drop_from_peak
  FROM eq
)
SELECT strategy_id, MAX(drop_from_peak) AS max_drawdown, SUM(pnl) AS total
FROM dd
GROUP BY strategy_id
ORDER BY max_drawdown DESC, strategy_id
