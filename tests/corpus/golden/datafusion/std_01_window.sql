SELECT strategy_id, trade_date, (pnl - AVG(pnl) OVER (PARTITION BY strategy_id)) / NULLIF(STDDEV_POP(pnl) OVER (PARTITION BY strategy_id), 0) AS z FROM pnl
