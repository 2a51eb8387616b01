-- rules: candidate_pushdown
-- Different candidates on each side: pushdown only.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
WHERE a.strategy_id IN (0, 1) AND b.strategy_id IN (1, 2, 3)
GROUP BY a.strategy_id, b.strategy_id
