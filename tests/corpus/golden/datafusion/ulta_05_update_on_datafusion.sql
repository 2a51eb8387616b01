UPDATE pnl SET pnl = -pnl WHERE strategy_id = 2
