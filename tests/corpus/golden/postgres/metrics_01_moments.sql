SELECT strategy_id, COUNT(pnl) AS days, SUM(pnl) AS total, AVG(pnl) AS mean, STDDEV(pnl) AS sd FROM pnl GROUP BY strategy_id
