UPDATE pnl SET pnl = CASE WHEN strategy_id IN (3, 5) THEN 0 - pnl ELSE pnl END
