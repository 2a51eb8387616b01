-- corpus corr_06 at production scale: the candidates as correlated EXISTS on the strategies table.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
WHERE EXISTS (SELECT 1 FROM strategies s WHERE s.strategy_id = a.strategy_id AND s.strategy_id % 13 = 0)
  AND EXISTS (SELECT 1 FROM strategies s WHERE s.strategy_id = b.strategy_id AND s.strategy_id % 13 = 0)
GROUP BY a.strategy_id, b.strategy_id
