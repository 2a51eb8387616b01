SELECT strategy_id, trade_date, pnl - AVG(pnl) OVER (PARTITION BY strategy_id) AS centred FROM pnl
