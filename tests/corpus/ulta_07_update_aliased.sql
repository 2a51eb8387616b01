-- rules: update_to_ctas
-- target: heavydb
-- An aliased UPDATE, its columns qualified by the alias, a date range beside the subquery.
update pnl as p
   set pnl = -p.pnl
 where p.trade_date >= DATE '2020-01-03'
   and p.strategy_id in (select s.strategy_id from strategies as s where s.name <> 'B')
