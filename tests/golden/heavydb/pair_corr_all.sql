SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr FROM pnl AS a JOIN pnl AS b ON a.trade_date = b.trade_date GROUP BY a.strategy_id, b.strategy_id
