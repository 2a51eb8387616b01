-- rules: (none)
-- Win rate and profit factor.
SELECT strategy_id,
       AVG(CASE WHEN pnl > 0 THEN 1.0 ELSE 0.0 END) AS win_rate,
       SUM(CASE WHEN pnl > 0 THEN pnl ELSE 0 END) / NULLIF(-SUM(CASE WHEN pnl < 0 THEN pnl ELSE 0 END), 0) AS profit_factor
FROM pnl GROUP BY strategy_id
