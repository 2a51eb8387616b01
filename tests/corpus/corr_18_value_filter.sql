-- rules: candidate_pushdown, symmetric_self_join
-- A filter on the values: not a whole-strategy filter, so no standardization; the filters still move below the join.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
WHERE a.pnl > -10 AND b.pnl > -10
GROUP BY a.strategy_id, b.strategy_id
