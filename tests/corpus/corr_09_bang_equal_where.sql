-- rules: correlation_to_kernel
-- Off-diagonal pairs with != in WHERE, comma join.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a, pnl b
WHERE a.trade_date = b.trade_date AND a.strategy_id != b.strategy_id AND a.strategy_id IN (1, 2, 4) AND b.strategy_id IN (1, 2, 4)
GROUP BY a.strategy_id, b.strategy_id
