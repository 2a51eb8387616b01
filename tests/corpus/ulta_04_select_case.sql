-- rules: (none)
-- ULTA as a SELECT: losing strategies (negative total) found by a join, flipped by CASE.
SELECT p.strategy_id, p.trade_date,
       CASE WHEN inv.strategy_id IS NOT NULL THEN -p.pnl ELSE p.pnl END AS pnl
FROM pnl p
LEFT JOIN (SELECT strategy_id FROM pnl GROUP BY strategy_id HAVING SUM(pnl) < 0) inv ON inv.strategy_id = p.strategy_id
