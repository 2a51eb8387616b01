SELECT "Date", "S1", "S 2" FROM pnl_wide
