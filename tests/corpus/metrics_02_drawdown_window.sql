-- rules: series_to_aggregate
-- Maximum drawdown as running sum and running max, with the windows' default frames: on a
-- complete panel (no strategy with two rows on one day) they are running sums over rows.
WITH eq AS (
  SELECT strategy_id, trade_date, SUM(pnl) OVER (PARTITION BY strategy_id ORDER BY trade_date) AS equity FROM pnl
), peak AS (
  SELECT strategy_id, trade_date, equity, MAX(equity) OVER (PARTITION BY strategy_id ORDER BY trade_date) AS high FROM eq
)
SELECT strategy_id, MAX(high - equity) AS max_drawdown FROM peak GROUP BY strategy_id
