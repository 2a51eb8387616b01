-- What a run needs of each strategy, in one statement: the legacy metrics of
-- strategy_metrics.sql (ROI, max drawdown, win percentage, profit factor, expectancy) and the
-- moments the standardized values come from (standardize.sql applies them): the mean, the norm
-- of the centred values and whether the strategy is flat (1 when MIN = MAX, decided exactly), and
-- the summed squares of the standardized values (1 up to rounding, 0 when flat: the search needs
-- them for every strategy, and reading them here spares it a pass over the values). Written
-- with windows, as any SQL engine runs it: the running sum of P&L in the input's order of days
-- (seq), its running peak (from the first day's equity, not from 0) and the fall from it, and
-- each strategy's mean beside every row. On an engine with heavytune's ht_series aggregate the
-- rule series_to_aggregate reads the table once instead, every sum in day order (z_squares
-- value by value, as the search standardizes them), which gives heavytune's in-process figures
-- bit for bit; where the engine also holds the table's series
-- view, the rule series_view reads the same figures from it without grouping rows.
WITH equity AS (
  SELECT strategy_id, seq, pnl,
         SUM(pnl) OVER (PARTITION BY strategy_id ORDER BY seq
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS equity,
         AVG(pnl) OVER (PARTITION BY strategy_id) AS mean
  FROM pnl
  WHERE trade_date BETWEEN $date_from AND $date_to
), falls AS (
  SELECT strategy_id, pnl, mean,
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
         SUM(CASE WHEN pnl < 0 THEN pnl ELSE 0 END) AS pains,
         MIN(mean) AS mean,
         SQRT(SUM((pnl - mean) * (pnl - mean))) AS norm,
         CASE WHEN MIN(pnl) = MAX(pnl) THEN 1 ELSE 0 END AS flat,
         CASE WHEN MIN(pnl) = MAX(pnl) THEN 0
              ELSE SUM((pnl - mean) * (pnl - mean))
                   / (SQRT(SUM((pnl - mean) * (pnl - mean))) * SQRT(SUM((pnl - mean) * (pnl - mean))))
         END AS z_squares
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
         AS expectancy,
       mean,
       norm,
       flat,
       z_squares
FROM sums
ORDER BY strategy_id
