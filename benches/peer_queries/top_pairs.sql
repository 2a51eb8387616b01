-- corpus corr_11 at production scale: the 100 most correlated distinct pairs of the 2,000
-- candidates, ordered by the correlation, with the outer ORDER BY ... LIMIT.
WITH top AS (SELECT strategy_id FROM pnl GROUP BY strategy_id ORDER BY SUM(pnl) DESC LIMIT 2000)
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
WHERE a.strategy_id IN (SELECT strategy_id FROM top) AND b.strategy_id IN (SELECT strategy_id FROM top)
  AND a.strategy_id <> b.strategy_id
GROUP BY a.strategy_id, b.strategy_id
ORDER BY corr DESC, s1, s2
LIMIT 100
