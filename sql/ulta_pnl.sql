-- The inverted long table of ULTA (CREATE TABLE AS SELECT, never an UPDATE): every row of the
-- loaded table under its strategy's new position, with the sign flipped where ULTA inverted the
-- strategy. Needs strategies_ulta (ulta_strategies.sql) first.
CREATE TABLE pnl_ulta AS
SELECT u.strategy_id, p.seq, p.trade_date, p.zone,
       CASE WHEN u.inverted THEN -p.pnl ELSE p.pnl END AS pnl
FROM pnl AS p
JOIN strategies_ulta AS u ON u.source_id = p.strategy_id
