SELECT strategy_id, get_field(ht_series(pnl, trade_date), 'max_drawdown') AS max_drawdown FROM pnl GROUP BY strategy_id
