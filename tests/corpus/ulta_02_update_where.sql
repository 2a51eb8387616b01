-- rules: update_to_ctas
-- target: heavydb
-- ULTA as an UPDATE of the inverted strategies only.
UPDATE pnl SET pnl = -pnl WHERE strategy_id IN (1, 3)
