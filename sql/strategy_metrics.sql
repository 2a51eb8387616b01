-- Per-strategy legacy metrics (LEGACY_SPEC.md): ROI, max drawdown, win percentage, profit factor
-- (+inf without a losing day) and expectancy. Max drawdown goes through window functions: the
-- running sum of P&L in the input's order of days (seq), then its running max (the peak starts
-- at the first day's equity, not at 0), then the largest fall from it. Every sum adds the days
-- in that order, so the figures match heavytune's in-process computation bit for bit.
WITH equity AS (
  SELECT strategy_id, seq, pnl,
         SUM(pnl) OVER (PARTITION BY strategy_id ORDER BY seq
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS equity
  FROM pnl
  WHERE trade_date BETWEEN $date_from AND $date_to
), falls AS (
  SELECT strategy_id, seq, pnl,
         MAX(equity) OVER (PARTITION BY strategy_id ORDER BY seq
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - equity AS fall
  FROM equity
), sums AS (
  SELECT strategy_id,
         SUM(pnl) AS roi,
         MAX(fall) AS max_drawdown,
         COUNT(*) AS days,
         SUM(CASE WHEN pnl > 0 THEN 1 ELSE 0 END) AS wins,
         SUM(CASE WHEN pnl < 0 THEN 1 ELSE 0 END) AS losses,
         SUM(CASE WHEN pnl > 0 THEN pnl ELSE 0 END) AS gains,
         SUM(CASE WHEN pnl < 0 THEN pnl ELSE 0 END) AS pains
  FROM falls
  GROUP BY strategy_id
)
SELECT strategy_id,
       roi,
       max_drawdown,
       CAST(wins AS DOUBLE) / days AS win_percentage,
       CASE WHEN losses = 0 THEN CAST('inf' AS DOUBLE) ELSE gains / ABS(pains) END AS profit_factor,
       CAST(wins AS DOUBLE) / days * CASE WHEN wins = 0 THEN 0 ELSE gains / wins END
         - (1 - CAST(wins AS DOUBLE) / days) * CASE WHEN losses = 0 THEN 0 ELSE ABS(pains) / losses END
         AS expectancy
FROM sums
ORDER BY strategy_id
