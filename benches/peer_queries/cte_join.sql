-- corpus corr_05 at production scale: the candidate CTE joined on each side, every ordered pair.
WITH top AS (SELECT strategy_id FROM pnl GROUP BY strategy_id ORDER BY MAX(pnl) DESC LIMIT 2000)
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a
JOIN top ta ON ta.strategy_id = a.strategy_id
JOIN pnl b ON a.trade_date = b.trade_date
JOIN top tb ON b.strategy_id = tb.strategy_id
GROUP BY a.strategy_id, b.strategy_id
