"""The database's side of Event.seq, the order events were written in: on PostgreSQL a sequence
as the column's default, on SQLite (`make run`) an AFTER INSERT trigger that sets max + 1 (SQLite
has one writer at a time). Installed by the migration that adds the column and after every
migrate (a test database built without migrations gets it too); installing twice is harmless."""

from integrations.models import Event

TABLE = Event._meta.db_table
SEQUENCE = f"{TABLE}_seq_seq"

# Existing rows, numbered in the order the connectors' cursors used before seq.
NUMBER_EXISTING = f"""
    UPDATE {TABLE} SET seq = o.n
    FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM {TABLE}) AS o
    WHERE o.id = {TABLE}.id
"""  # noqa: S608 - the table name is our model's

_POSTGRESQL = [
    f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE} AS bigint OWNED BY {TABLE}.seq",
    # Never behind the rows (a table numbered by the migration): the next value is past them all.
    f"""SELECT setval('{SEQUENCE}', GREATEST((SELECT COALESCE(max(seq), 0) FROM {TABLE}),
                                             (SELECT last_value FROM {SEQUENCE})))""",  # noqa: S608
]
_POSTGRESQL_DEFAULT = f"ALTER TABLE {TABLE} ALTER COLUMN seq SET DEFAULT nextval('{SEQUENCE}')"

# The retention purge always keeps the newest event, so max + 1 never goes back.
_SQLITE = [
    f"""CREATE TRIGGER IF NOT EXISTS {TABLE}_seq AFTER INSERT ON {TABLE} WHEN NEW.seq = 0
        BEGIN UPDATE {TABLE} SET seq = (SELECT max(seq) FROM {TABLE}) + 1 WHERE rowid = NEW.rowid; END"""  # noqa: S608
]


def event_order_install(connection) -> bool:
    """Install on `connection` once the column exists; False when it does not (yet)."""
    if TABLE not in connection.introspection.table_names():
        return False
    with connection.cursor() as cursor:
        columns = {column.name for column in connection.introspection.get_table_description(cursor, TABLE)}
        if "seq" not in columns:  # migrated to before the column
            return False
        if connection.vendor == "postgresql":
            for sql in _POSTGRESQL:
                cursor.execute(sql)
            cursor.execute(
                "SELECT column_default FROM information_schema.columns WHERE table_name = %s AND column_name = 'seq'",
                [TABLE],
            )
            (default,) = cursor.fetchone()
            if "nextval" not in (default or ""):  # ALTER TABLE locks the table: only when needed
                cursor.execute(_POSTGRESQL_DEFAULT)
        elif connection.vendor == "sqlite":
            for sql in _SQLITE:
                cursor.execute(sql)
    return True
