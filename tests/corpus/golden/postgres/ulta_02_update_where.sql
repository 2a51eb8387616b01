CREATE TABLE "pnl_ctas" AS SELECT "strategy_id", "trade_date", "zone", CAST(CASE WHEN strategy_id IN (1, 3) THEN -pnl ELSE "pnl" END AS DOUBLE PRECISION) AS "pnl" FROM pnl;
DROP TABLE pnl;
ALTER TABLE "pnl_ctas" RENAME TO pnl
