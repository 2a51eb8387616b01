-- rules: correlation_to_kernel
-- The self-join written with USING, the same candidates listed in another order on each side.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a JOIN pnl b USING (trade_date)
WHERE a.strategy_id IN (0, 1, 2, 3) AND b.strategy_id IN (3, 2, 1, 0, 1)
  AND a.strategy_id < b.strategy_id
GROUP BY a.strategy_id, b.strategy_id
