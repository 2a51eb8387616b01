-- rules: correlation_to_kernel
-- CORR(b, a), the key written b = a, GROUP BY b, a.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(b.pnl, a.pnl) AS corr
FROM pnl AS a JOIN pnl AS b ON b.trade_date = a.trade_date
GROUP BY b.strategy_id, a.strategy_id
