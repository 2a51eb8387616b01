UPDATE pnl SET pnl = CASE WHEN strategy_id IN (3, 5) THEN -pnl ELSE pnl END
