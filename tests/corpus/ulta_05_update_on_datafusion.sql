-- rules: (none)
-- An UPDATE on the embedded engine, which updates in place: the rule declines.
UPDATE pnl SET pnl = -pnl WHERE strategy_id = 2
