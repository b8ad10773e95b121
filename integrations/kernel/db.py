"""Set-based writes the ORM makes slow: updating many rows, each to its own values; a lock on a
name, for rules that span rows no single row lock covers; and a prepared read for the hottest
queries."""

import hashlib
import time

import psycopg
from django.db import connection


def update_rows(objects: list, fields: list[str]) -> None:
    """Save `fields` of many model instances in one statement (PostgreSQL: UPDATE ... FROM VALUES,
    which is far cheaper than bulk_update's CASE expressions); elsewhere, bulk_update."""
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objects, fields)
        return
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    row_sql = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
    values, params = [], []
    for obj in objects:
        values.append(row_sql)
        params.append(pk.get_db_prep_value(obj.pk, connection))
        params.extend(column.get_db_prep_save(getattr(obj, column.attname), connection) for column in columns)
    quote = connection.ops.quote_name
    assignments = ", ".join(
        f"{quote(column.column)} = v.{quote(column.column)}::{column.db_type(connection)}" for column in columns
    )
    names = ", ".join(quote(c.column) for c in [pk, *columns])
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 - identifiers from our models
        f"FROM (VALUES {', '.join(values)}) AS v({names}) "
        f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}::{pk.db_type(connection)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def lock_name(name: str) -> None:
    """Hold a lock on `name` until the current transaction ends (PostgreSQL: an advisory
    transaction lock; SQLite needs none, its write transactions already run one at a time)."""
    if not connection.in_atomic_block:
        raise RuntimeError("lock_name holds its lock until the transaction ends: call it inside one.")
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def fetch_prepared(sql: str, params: list) -> list[tuple]:
    """The rows of a hot read, as a prepared statement on PostgreSQL (planned once per connection:
    planning was most of an entitlement check's time). Django's cursors bind on the client and never
    prepare, so this uses a server-binding psycopg cursor on Django's connection, after Django's own
    checks (the health check, reconnecting) and with its error wrapping. Prepared only where
    settings allow it (`DATABASE_PREPARED_STATEMENTS`); elsewhere and on SQLite, a plain query."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(sql, params)
            return cursor.fetchall()
        started = time.monotonic()
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as prepared:
            prepared.execute(sql, params, prepare=True)
            rows = prepared.fetchall()
        if connection.queries_logged:  # seen where Django's queries are (DEBUG, the tests' query counts)
            connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
        return rows
