-- rules: correlation_to_kernel
-- Candidates by name: each side joined to the strategies table, its name filtered in the
-- WHERE (quoted aliases, the name filter and the join key in any order).
SELECT "A".strategy_id AS sid_a, "B".strategy_id AS sid_b, CORR("B".pnl, "A".pnl) AS "corr"
FROM pnl "A"
JOIN strategies sa ON sa.strategy_id = "A".strategy_id
JOIN pnl "B" ON "A".trade_date = "B".trade_date
JOIN strategies sb ON sb.strategy_id = "B".strategy_id
WHERE sa.name LIKE 'S%' AND sb.name LIKE 'S%' AND "A".strategy_id < "B".strategy_id
GROUP BY "A".strategy_id, "B".strategy_id
ORDER BY "corr" DESC, sid_a, sid_b
LIMIT 5
