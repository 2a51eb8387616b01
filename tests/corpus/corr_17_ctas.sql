-- rules: correlation_to_kernel
-- The SELECT of a CREATE TABLE AS.
CREATE TABLE corr_pairs AS
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
WHERE a.strategy_id IN (0, 2, 4) AND b.strategy_id IN (0, 2, 4)
GROUP BY a.strategy_id, b.strategy_id
