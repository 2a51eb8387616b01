-- Pearson correlation of every ordered pair of candidate strategies over their common trading
-- days, written the way users write it: a self-join of the long table on the date and CORR per
-- pair. $candidates: strategy names; $date_from / $date_to: the date range.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl AS a
JOIN pnl AS b ON a.trade_date = b.trade_date
WHERE a.strategy_id IN (SELECT strategy_id FROM strategies WHERE name IN ($candidates))
  AND b.strategy_id IN (SELECT strategy_id FROM strategies WHERE name IN ($candidates))
  AND a.trade_date BETWEEN $date_from AND $date_to
  AND b.trade_date BETWEEN $date_from AND $date_to
GROUP BY a.strategy_id, b.strategy_id
