-- rules: correlation_to_kernel
-- Two requests in one statement, each rewritten where it stands.
SELECT 'low' AS band, s1, s2, corr FROM (
  SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
  FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
  WHERE a.strategy_id IN (0, 1, 2) AND b.strategy_id IN (0, 1, 2)
  GROUP BY a.strategy_id, b.strategy_id) AS lo
UNION ALL
SELECT 'high' AS band, s1, s2, corr FROM (
  SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
  FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
  WHERE a.strategy_id IN (3, 4, 5) AND b.strategy_id IN (3, 4, 5)
  GROUP BY a.strategy_id, b.strategy_id) AS hi
