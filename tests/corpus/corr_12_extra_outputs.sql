-- rules: correlation_to_kernel
-- Extra outputs computed from the ids and the correlation, a HAVING on it.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, ROUND(CORR(a.pnl, b.pnl), 4) AS corr4,
       CASE WHEN CORR(a.pnl, b.pnl) > 0 THEN 'pos' ELSE 'neg' END AS sign, a.strategy_id * 100 + b.strategy_id AS pair
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
GROUP BY a.strategy_id, b.strategy_id
HAVING CORR(a.pnl, b.pnl) > 0.25
