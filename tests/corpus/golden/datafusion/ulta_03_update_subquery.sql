UPDATE pnl SET pnl = -1 * pnl WHERE strategy_id IN (SELECT strategy_id FROM strategies WHERE name LIKE 'S%')
