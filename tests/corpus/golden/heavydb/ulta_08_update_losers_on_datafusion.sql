UPDATE pnl SET pnl = -pnl WHERE strategy_id IN (SELECT strategy_id FROM pnl GROUP BY strategy_id HAVING SUM(pnl) < 0)
