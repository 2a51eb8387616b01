-- heavytune tables for Apache DataFusion (the embedded default engine).
-- `heavytune load` writes them as Parquet with exactly these columns; this DDL documents them and
-- creates empty in-memory tables of the same shape (a test checks it against the loader's schema).
-- strategy_id is the strategy's 0-based position in the input column order.

CREATE TABLE strategies (
    strategy_id INT NOT NULL,
    name        VARCHAR NOT NULL,   -- as in the input header; several files: <file stem>_<column>
    file_label  VARCHAR NOT NULL    -- input file stem (balanced mode groups by it)
);

-- Long/narrow daily P&L, sorted by strategy_id then row order of the input.
CREATE TABLE pnl (
    strategy_id INT NOT NULL,
    seq         INT NOT NULL,       -- 0-based position of the row in the input's order of days
    trade_date  DATE NOT NULL,
    zone        VARCHAR,            -- NULL when the input has no Zone column (dictionary-encoded in Parquet)
    pnl         DOUBLE NOT NULL     -- empty or non-numeric input cells are 0 (see load --strict)
);
