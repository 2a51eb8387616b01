-- rules: (none)
-- The losers' UPDATE on the embedded engine, which updates in place: the rule declines, and
-- the engine runs the statement (its aggregating subquery listed first).
UPDATE pnl SET pnl = -pnl
WHERE strategy_id IN (SELECT strategy_id FROM pnl GROUP BY strategy_id HAVING SUM(pnl) < 0)
