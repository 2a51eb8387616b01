-- heavytune tables for HeavyDB (the production GPU engine, reached over ODBC).
-- Text columns are dictionary-encoded; pnl's fragments are sized so that a production load
-- (25,544 strategies x 82 days = 2,094,608 rows) spreads over several GPU fragments (HeavyDB's
-- default fragment_size is 32 M rows: one fragment). Column grammar as HeavyDB documents it
-- (DDL > Tables > CREATE TABLE): <column> <type> [NOT NULL] [DEFAULT <value>] [ENCODING <spec>].
-- `heavytune load --engine heavydb://...` prints exactly these statements (a test holds them
-- equal).

CREATE TABLE strategies (
    strategy_id INTEGER NOT NULL,
    name        TEXT NOT NULL ENCODING DICT(32),
    file_label  TEXT NOT NULL ENCODING DICT(32)
) WITH (fragment_size = 524288);

CREATE TABLE pnl (
    strategy_id INTEGER NOT NULL,
    seq         INTEGER NOT NULL,   -- 0-based position of the row in the input's order of days
    trade_date  DATE NOT NULL ENCODING DAYS(32),
    zone        TEXT ENCODING DICT(32),
    pnl         DOUBLE NOT NULL
) WITH (fragment_size = 524288);
