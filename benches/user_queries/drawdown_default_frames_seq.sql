-- As drawdown_default_frames.sql, ordered by seq: no fact shows (strategy_id, seq) unique, so the rule declines.
WITH eq AS (
  SELECT strategy_id, seq, pnl,
         SUM(pnl) OVER (PARTITION BY strategy_id ORDER BY seq) AS equity
  FROM pnl
), dd AS (
  SELECT strategy_id, pnl, MAX(equity) OVER (PARTITION BY strategy_id ORDER BY seq) - equity AS drop_from_peak
  FROM eq
)
SELECT strategy_id, MAX(drop_from_peak) AS max_drawdown, SUM(pnl) AS total
FROM dd GROUP BY strategy_id ORDER BY max_drawdown DESC LIMIT 10
