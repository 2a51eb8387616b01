-- rules: correlation_to_kernel
-- The strongest pairs: ORDER BY the correlation, LIMIT (ties broken on the ids and a rounded key).
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
WHERE a.strategy_id < b.strategy_id
GROUP BY a.strategy_id, b.strategy_id
ORDER BY ROUND(CORR(a.pnl, b.pnl), 6) DESC NULLS LAST, s1, s2
LIMIT 5
