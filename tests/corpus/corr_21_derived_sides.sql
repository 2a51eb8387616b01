-- rules: correlation_to_kernel
-- Sides already filtered in derived tables.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM (SELECT * FROM pnl WHERE strategy_id < 5) a
JOIN (SELECT * FROM pnl WHERE strategy_id < 5) b ON a.trade_date = b.trade_date
GROUP BY a.strategy_id, b.strategy_id
