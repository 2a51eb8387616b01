-- rules: update_to_ctas
-- target: heavydb
-- ULTA as an UPDATE with CASE.
UPDATE pnl SET pnl = CASE WHEN strategy_id IN (0, 2) THEN -pnl ELSE pnl END
