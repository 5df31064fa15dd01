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
    """ANALYZE the tables of `models` on the `using` database (PostgreSQL or SQLite; others are left alone).

    Cost: PostgreSQL samples at most 30,000 rows per table (about 0.1 s at 100k steps); SQLite reads the
    tables' indexes. Raises what the database raises (e.g. a missing table).
    """
    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        return
    tables = sorted({model._meta.db_table for model in models})
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def restore(*models: type[Model], using: str = "default") -> None:
    """After a migration rebuilt the tables of `models`: give them statistics again where the database had any.

    SQLite adds a column by copying the table, which drops the table's statistics but keeps the other tables'.
    A database analysed before (an import ran refresh()) gets the rebuilt tables analysed again; one never
    analysed is left so, since statistics for some tables and none for the others (which SQLite takes for a
    million rows each) misled it into scanning every session for the FixStep admin list (146 ms at 100k steps
    instead of 14). PostgreSQL always has statistics: its tables are analysed.
    """
    connection = connections[using]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if cursor.fetchone() is None:
                return
            cursor.execute("SELECT 1 FROM sqlite_stat1 LIMIT 1")
            if cursor.fetchone() is None:
                return
    refresh(*models, using=using)
