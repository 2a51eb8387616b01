-- The legacy way to pull strategies: a column list over the wide table (Date, then one column
-- per strategy). $columns: the strategy names. The wide_to_long rule reads the long table instead.
SELECT "Date", $columns
FROM pnl_wide
