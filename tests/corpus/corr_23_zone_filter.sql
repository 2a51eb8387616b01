-- rules: candidate_pushdown, symmetric_self_join
-- A filter on another column (zone): it could drop single days, so no standardization.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
WHERE a.zone IS NULL AND b.zone IS NULL
GROUP BY a.strategy_id, b.strategy_id
