-- rules: correlation_to_kernel
-- The request in a subquery of the WHERE clause.
SELECT s.name FROM strategies s
WHERE s.strategy_id IN (
  SELECT a.strategy_id FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
  WHERE a.strategy_id <> b.strategy_id
  GROUP BY a.strategy_id, b.strategy_id
  HAVING CORR(a.pnl, b.pnl) > 0.5)
