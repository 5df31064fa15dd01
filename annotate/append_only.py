"""Database triggers that make append-only tables refuse changes even to raw SQL (RELIABILITY.md case 37).

UPDATE is refused on every database. DELETE is refused on PostgreSQL too; on SQLite the ORM and PROTECT
foreign keys refuse it, because Django's SQLite flush (used between transactional tests) deletes rows.
"""

from __future__ import annotations

from django.db import migrations


def _install(table: str):
    def forwards(apps, schema_editor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "sqlite":
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END;"
            )
        elif vendor == "postgresql":
            schema_editor.execute(
                f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN RAISE EXCEPTION '{table} rows are append-only'; END; $$;"
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only();"
            )

    def backwards(apps, schema_editor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only;")
        elif vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {table}_append_only();")

    return forwards, backwards


def append_only_operation(table: str) -> migrations.RunPython:
    forwards, backwards = _install(table)
    return migrations.RunPython(forwards, backwards)


def reinstall_append_only_operation(table: str) -> migrations.RunPython:
    """Put the trigger back after a schema change of `table`, in both directions.

    SQLite rebuilds a table (and drops its triggers) to add a column with a default or to alter one; PostgreSQL
    keeps them. Dropping first makes this right on both.
    """
    install, drop = _install(table)

    def reinstall(apps, schema_editor) -> None:
        drop(apps, schema_editor)
        install(apps, schema_editor)

    return migrations.RunPython(reinstall, reinstall)
