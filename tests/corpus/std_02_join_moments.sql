-- rules: (none)
-- Standardized values by a join to per-strategy moments.
WITH m AS (SELECT strategy_id, AVG(pnl) AS mu, STDDEV_POP(pnl) AS sigma FROM pnl GROUP BY strategy_id)
SELECT p.strategy_id, p.trade_date, (p.pnl - m.mu) / NULLIF(m.sigma, 0) AS z
FROM pnl p JOIN m ON m.strategy_id = p.strategy_id
