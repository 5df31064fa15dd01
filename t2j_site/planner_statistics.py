"""The query planner's statistics brought up to date after a bulk write.

PostgreSQL plans from the row counts autovacuum last measured. Tables it analysed while empty (a fresh
install, a test database after a flush) still look empty right after thousands of rows arrive in one
transaction, until autovacuum analyses them again a minute after the commit. In that minute a join over
the steps (the T2J prompt's shared steps) is planned as nested loops without index conditions: seen at 750
steps as minutes instead of milliseconds. SQLite without statistics picks poor indexes the same way.
ANALYZE after the write measures the tables as they are (inside the writing transaction too: both engines
count the transaction's own new rows).
"""

from __future__ import annotations

from django.db import connections
from django.db.models import Model


def refresh(*models: type[Model], using: str = "default") -> None:
    """ANALYZE the tables of `models` on the `using` database: PostgreSQL those tables, SQLite every table
    (others are left alone).

    Cost: PostgreSQL samples at most 30,000 rows per table (about 0.1 s at 100k steps); SQLite reads every
    index (0.8 s at 100k steps). Raises what the database raises (e.g. a missing table).
    """
    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        return
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # SQLite plans a join from every joined table's statistics, and takes a table without any for a
            # million rows: statistics for some tables only made the FixStep admin list scan every session
            # (146 ms at 100k steps instead of 14). So the whole database, 0.8 s at that size.
            cursor.execute("ANALYZE")
            return
        for table in sorted({model._meta.db_table for model in models}):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
