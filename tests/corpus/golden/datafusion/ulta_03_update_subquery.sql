CREATE TABLE "pnl_ctas" AS SELECT "strategy_id", "trade_date", "zone", CAST(CASE WHEN ht_in0.ht_key IS NOT NULL THEN -1 * pnl ELSE "pnl" END AS DOUBLE) AS "pnl" FROM pnl LEFT OUTER JOIN (SELECT DISTINCT ht_sub0.strategy_id AS ht_key FROM (SELECT strategy_id FROM strategies WHERE name LIKE 'S%') AS ht_sub0) AS ht_in0 ON strategy_id = ht_in0.ht_key;
DROP TABLE pnl;
ALTER TABLE "pnl_ctas" RENAME TO pnl
