-- rules: correlation_to_kernel
-- The request inside a CTE body, read by the final SELECT.
WITH pairs AS (
  SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
  FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
  GROUP BY a.strategy_id, b.strategy_id
)
SELECT s1, COUNT(*) AS partners, AVG(corr) AS mean_corr FROM pairs WHERE s1 <> s2 GROUP BY s1
