SELECT strategy_id, get_field(ht_series(pnl, trade_date), 'max_drawdown') AS max_dd, get_field(ht_series(pnl, trade_date), 'sum') AS roi FROM pnl GROUP BY strategy_id ORDER BY strategy_id
