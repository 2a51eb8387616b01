-- rules: correlation_to_kernel
-- The request as a derived table joined to the names.
SELECT sa.name AS first, sb.name AS second, p.corr
FROM (SELECT a.strategy_id AS s1, b.strategy_id AS s2, CORR(a.pnl, b.pnl) AS corr
      FROM pnl a JOIN pnl b ON a.trade_date = b.trade_date
      GROUP BY a.strategy_id, b.strategy_id) AS p
JOIN strategies sa ON sa.strategy_id = p.s1
JOIN strategies sb ON sb.strategy_id = p.s2
