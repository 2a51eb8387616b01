-- rules: correlation_to_kernel
-- The candidate set as correlated EXISTS subqueries.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
WHERE EXISTS (SELECT 1 FROM strategies s WHERE s.strategy_id = a.strategy_id AND s.name <> 'S 2')
  AND EXISTS (SELECT 1 FROM strategies s WHERE s.strategy_id = b.strategy_id AND s.name <> 'S 2')
GROUP BY a.strategy_id, b.strategy_id
