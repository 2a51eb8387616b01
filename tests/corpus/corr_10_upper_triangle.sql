-- rules: correlation_to_kernel
-- One half of the pairs, written b > a.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
WHERE b.strategy_id > a.strategy_id
GROUP BY a.strategy_id, b.strategy_id
