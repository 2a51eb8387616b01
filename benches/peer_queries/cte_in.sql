-- corpus corr_04 at production scale: the 2,000 strategies of highest total as a CTE,
-- IN (SELECT ...) on both sides, one half of the pairs.
WITH top AS (SELECT strategy_id FROM pnl GROUP BY strategy_id ORDER BY SUM(pnl) DESC LIMIT 2000)
SELECT a.strategy_id, b.strategy_id, CORR(a.pnl, b.pnl)
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
WHERE a.strategy_id IN (SELECT strategy_id FROM top) AND b.strategy_id IN (SELECT strategy_id FROM top)
  AND a.strategy_id < b.strategy_id
GROUP BY a.strategy_id, b.strategy_id
