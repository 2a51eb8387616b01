"""A Flight SQL client nobody here wrote (Apache Arrow ADBC, from PyPI) against `heavytune serve`.

Usage: adbc_interop.py grpc://127.0.0.1:PORT   (ADBC_USER and ADBC_PASSWORD in the environment)

Connects with a user and password, runs a query and a prepared statement with a parameter, lists
the tables (adbc_get_objects), ingests a table (adbc_ingest) and reads it back, and checks that a
wrong password is refused. Prints one JSON line of what it saw; tests/flightsql.rs compares it
with the embedded engine. Any failure raises (exit code 1).
"""

import json
import os
import sys

import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import pyarrow as pa


def connect(uri, user, password):
    return flightsql.connect(uri, db_kwargs={"username": user, "password": password}, autocommit=True)


def main():
    uri = sys.argv[1]
    user, password = os.environ["ADBC_USER"], os.environ["ADBC_PASSWORD"]
    seen = {}
    with connect(uri, user, password) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT strategy_id, SUM(pnl) AS roi FROM pnl GROUP BY strategy_id ORDER BY strategy_id")
            table = cur.fetch_arrow_table()
            seen["roi"] = table.column("roi").to_pylist()

            # A prepared statement with a parameter ($1: DataFusion's placeholders).
            cur.adbc_prepare("SELECT seq, pnl FROM pnl WHERE strategy_id = $1 ORDER BY seq")
            cur.execute("SELECT seq, pnl FROM pnl WHERE strategy_id = $1 ORDER BY seq", parameters=(3,))
            seen["prepared_rows"] = cur.fetch_arrow_table().num_rows

            data = pa.table({"x": pa.array([1, 2, 3], type=pa.int64()), "s": ["a", "b", "c"]})
            seen["ingested_rows"] = cur.adbc_ingest("adbc_ingested", data, mode="create")
            cur.execute("SELECT x, s FROM adbc_ingested ORDER BY x")
            back = cur.fetch_arrow_table()
            assert back.column("x").to_pylist() == [1, 2, 3], back
            assert back.column("s").to_pylist() == ["a", "b", "c"], back

        objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        tables = []
        for catalog in objects:
            for schema in catalog["catalog_db_schemas"] or []:
                for t in schema["db_schema_tables"] or []:
                    tables.append(t["table_name"])
                    if t["table_name"] == "pnl":
                        columns = [c["column_name"] for c in t["table_columns"]]
                        assert columns == ["strategy_id", "seq", "trade_date", "zone", "pnl"], columns
        seen["tables"] = sorted(tables)

    try:
        connect(uri, user, password + "-wrong").cursor().execute("SELECT 1")
        seen["wrong_password_refused"] = False
    except adbc_driver_manager.Error as e:
        seen["wrong_password_refused"] = "wrong user or password" in str(e)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
