-- rules: correlation_to_kernel
-- GROUP BY positions, ORDER BY an output name.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS c
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
GROUP BY 1, 2
ORDER BY c DESC
