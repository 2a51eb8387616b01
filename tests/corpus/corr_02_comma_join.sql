-- rules: correlation_to_kernel
-- A comma join with the date in WHERE, other aliases, no output names.
SELECT x.strategy_id, y.strategy_id, CORR(x.pnl, y.pnl)
FROM pnl x, pnl y
WHERE x.trade_date = y.trade_date
  AND x.strategy_id IN (SELECT strategy_id FROM strategies WHERE name IN ('S1', 'it''s, 50%', 'S3', '"quoted"'))
  AND y.strategy_id IN (SELECT strategy_id FROM strategies WHERE name IN ('S1', 'it''s, 50%', 'S3', '"quoted"'))
GROUP BY x.strategy_id, y.strategy_id
