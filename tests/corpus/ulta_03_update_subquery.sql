-- rules: update_to_ctas
-- target: heavydb
-- ULTA of the strategies a subquery names: the subquery becomes a LEFT JOIN to its distinct
-- values, outside the CASE (where engines plan a subquery poorly or not at all).
UPDATE pnl SET pnl = -1 * pnl
WHERE strategy_id IN (SELECT strategy_id FROM strategies WHERE name LIKE 'S%')
