-- rules: series_to_aggregate
-- A per-strategy profile in one statement: drawdown, wins and losses, gains and pains, the
-- mean and the norm of the centred values, as a user writes them with windows.
WITH w AS (
  SELECT strategy_id, trade_date, pnl,
         SUM(pnl) OVER (PARTITION BY strategy_id ORDER BY trade_date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum,
         AVG(pnl) OVER (PARTITION BY strategy_id) AS mu
  FROM pnl
  WHERE trade_date >= DATE '2024-01-03'
), dd AS (
  SELECT strategy_id, pnl, mu,
         MAX(cum) OVER (PARTITION BY strategy_id ORDER BY trade_date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - cum AS drop_from_peak
  FROM w
)
SELECT strategy_id,
       MAX(drop_from_peak) AS mdd,
       SUM(CASE WHEN pnl > 0 THEN 1 ELSE 0 END) AS up_days,
       SUM(CASE WHEN pnl < 0 THEN 1 ELSE 0 END) AS down_days,
       SUM(CASE WHEN pnl > 0 THEN pnl ELSE 0 END) AS gains,
       SUM(CASE WHEN pnl < 0 THEN pnl ELSE 0 END) AS pains,
       COUNT(*) AS n,
       MAX(mu) AS mean,
       SQRT(SUM((pnl - mu) * (pnl - mu))) AS norm
FROM dd
GROUP BY strategy_id
HAVING COUNT(*) > 1
ORDER BY strategy_id
