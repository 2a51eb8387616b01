-- rules: correlation_to_kernel
-- The candidate CTE joined USING its id on the first side, with ON on the second.
WITH picks AS (SELECT DISTINCT strategy_id FROM pnl WHERE pnl > 0)
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM picks pa
JOIN pnl a USING (strategy_id)
JOIN pnl b ON b.trade_date = a.trade_date
JOIN picks pb ON pb.strategy_id = b.strategy_id
WHERE a.strategy_id < b.strategy_id
GROUP BY a.strategy_id, b.strategy_id
