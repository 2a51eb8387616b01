-- rules: update_to_ctas
-- target: heavydb
-- ULTA as a user writes it: invert the strategies that lose overall, picked by an
-- aggregating subquery (which DataFusion 55 cannot plan inside an UPDATE: the embedded
-- engine lists its values first).
UPDATE pnl SET pnl = -pnl
WHERE strategy_id IN (SELECT strategy_id FROM pnl GROUP BY strategy_id HAVING SUM(pnl) < 0)
