-- rules: correlation_to_kernel
-- The issue's form: a CTE for the candidate set, IN (SELECT ...) on both sides, an outer ORDER BY ... LIMIT.
WITH top AS (SELECT strategy_id FROM pnl GROUP BY strategy_id ORDER BY SUM(pnl) DESC NULLS LAST, strategy_id LIMIT 4)
SELECT a.strategy_id, b.strategy_id, CORR(a.pnl, b.pnl)
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
WHERE a.strategy_id IN (SELECT strategy_id FROM top) AND b.strategy_id IN (SELECT strategy_id FROM top)
  AND a.strategy_id < b.strategy_id
GROUP BY a.strategy_id, b.strategy_id
