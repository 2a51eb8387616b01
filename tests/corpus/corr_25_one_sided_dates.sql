-- rules: correlation_to_kernel
-- A date range written on one side only: the join on the day puts it on the other too.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
WHERE a.trade_date BETWEEN DATE '2022-01-09' AND DATE '2022-01-12'
  AND a.strategy_id <> b.strategy_id
GROUP BY a.strategy_id, b.strategy_id
