-- rules: (none)
-- Metrics joined to the names.
SELECT s.name, SUM(p.pnl) AS total, MIN(p.pnl) AS worst_day
FROM pnl p JOIN strategies s ON s.strategy_id = p.strategy_id GROUP BY s.name
