-- heavytune tables for PostgreSQL (Flight SQL and ODBC gateways in front of it, or tests).

CREATE TABLE strategies (
    strategy_id INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    file_label  TEXT NOT NULL
);

CREATE TABLE pnl (
    strategy_id INTEGER NOT NULL REFERENCES strategies (strategy_id),
    seq         INTEGER NOT NULL,   -- 0-based position of the row in the input's order of days
    trade_date  DATE NOT NULL,
    zone        TEXT,
    pnl         DOUBLE PRECISION NOT NULL
);

CREATE INDEX pnl_strategy_seq ON pnl (strategy_id, seq);
