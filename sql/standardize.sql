-- Standardized values for the correlation penalty: each strategy's P&L centred on its mean and
-- scaled to unit norm, so that Pearson corr(i, j) = sum over days of z_i * z_j. A strategy
-- whose values are all equal (MIN = MAX, decided exactly) has zero variance: its z is 0, as the
-- legacy's NaN -> 0. One row per strategy and day, unordered (consumers place rows by
-- strategy_id and seq). Means and norms come from GROUP BY joined back, which measured faster
-- on DataFusion than window functions plus ORDER BY (reports/README.md). Each join names the
-- per-strategy side first: an engine that cannot tell the sizes apart hashes the left side, so
-- the long table streams through in its own partitions, each strategy's days in order.
WITH moments AS (
  SELECT strategy_id, AVG(pnl) AS mean, MIN(pnl) = MAX(pnl) AS flat
  FROM pnl
  WHERE trade_date BETWEEN $date_from AND $date_to
  GROUP BY strategy_id
), centred AS (
  SELECT p.strategy_id, p.seq, p.pnl - m.mean AS centred, m.flat
  FROM moments AS m
  JOIN pnl AS p ON p.strategy_id = m.strategy_id
  WHERE p.trade_date BETWEEN $date_from AND $date_to
), norms AS (
  SELECT strategy_id, SQRT(SUM(centred * centred)) AS norm
  FROM centred
  GROUP BY strategy_id
)
SELECT c.strategy_id, c.seq,
       CASE WHEN c.flat OR n.norm = 0 THEN CAST(0 AS DOUBLE) ELSE c.centred / n.norm END AS z
FROM norms AS n
JOIN centred AS c ON c.strategy_id = n.strategy_id
