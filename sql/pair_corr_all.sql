-- The full pairwise-correlation request: Pearson correlation of every ordered pair of all
-- strategies (25,544^2 pairs in production), as a self-join on the date with CORR per pair.
-- Naive SQL cannot finish this; the correlation_to_kernel rule answers it.
SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
FROM pnl AS a
JOIN pnl AS b ON a.trade_date = b.trade_date
GROUP BY a.strategy_id, b.strategy_id
