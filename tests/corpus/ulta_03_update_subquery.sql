-- rules: (none)
-- target: heavydb
-- ULTA of the strategies a subquery names: the CTAS would need the subquery inside a CASE, so the rule declines.
UPDATE pnl SET pnl = -1 * pnl
WHERE strategy_id IN (SELECT strategy_id FROM strategies WHERE name LIKE 'S%')
