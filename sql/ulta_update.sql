-- ULTA written the way an in-place script does it: flip the sign of the given strategies with an
-- UPDATE. Column stores such as HeavyDB rewrite whole chunks on UPDATE; the update_to_ctas rule
-- turns this into CREATE TABLE AS SELECT. $inverted: the strategy ids to invert.
UPDATE pnl
SET pnl = CASE WHEN strategy_id IN ($inverted) THEN -pnl ELSE pnl END
