-- rules: correlation_to_kernel
-- The textbook form: JOIN ... ON the date, candidates by name on both sides.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
WHERE a.strategy_id IN (SELECT strategy_id FROM strategies WHERE name IN ('S1', 'it''s, 50%', 'S3', '"quoted"'))
  AND b.strategy_id IN (SELECT strategy_id FROM strategies WHERE name IN ('S1', 'it''s, 50%', 'S3', '"quoted"'))
GROUP BY a.strategy_id, b.strategy_id
