CREATE TABLE "pnl_ctas" AS SELECT "strategy_id", "trade_date", "zone", CAST(CASE WHEN p.trade_date >= DATE '2020-01-03' AND ht_in0.ht_key IS NOT NULL THEN -p.pnl ELSE "pnl" END AS DOUBLE PRECISION) AS "pnl" FROM pnl AS p LEFT OUTER JOIN (SELECT DISTINCT ht_sub0.strategy_id AS ht_key FROM (SELECT s.strategy_id FROM strategies AS s WHERE s.name <> 'B') AS ht_sub0) AS ht_in0 ON p.strategy_id = ht_in0.ht_key;
DROP TABLE pnl;
ALTER TABLE "pnl_ctas" RENAME TO pnl
