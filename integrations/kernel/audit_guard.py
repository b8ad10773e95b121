"""The database's side of "append-only": triggers that refuse any UPDATE of an audit event, and any
DELETE of one younger than 365 days (the purge removes older ones). PostgreSQL and SQLite alike,
so `make run` behaves as production does. Installed by a migration, and after every migrate (a
test database built without migrations gets them too); installing twice is harmless."""

from integrations.kernel.models import AuditEvent

TABLE = AuditEvent._meta.db_table
MIN_AGE_DAYS = 365

_POSTGRESQL = [
    f"""
    CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            RAISE EXCEPTION 'audit events are append-only: UPDATE refused'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF OLD.at > now() - interval '{MIN_AGE_DAYS} days' THEN
            RAISE EXCEPTION 'audit events are kept {MIN_AGE_DAYS} days: DELETE of a younger one refused'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END
    $$
    """,
    f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
    f"""
    CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only()
    """,
]

_SQLITE = [
    f"""
    CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE}
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE refused'); END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS {TABLE}_no_early_delete BEFORE DELETE ON {TABLE}
    WHEN OLD.at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-{MIN_AGE_DAYS} days')
    BEGIN SELECT RAISE(ABORT, 'audit events are kept {MIN_AGE_DAYS} days: DELETE of a younger one refused'); END
    """,
]

_DROP = {
    "postgresql": [
        f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
        f"DROP FUNCTION IF EXISTS {TABLE}_append_only()",
    ],
    "sqlite": [f"DROP TRIGGER IF EXISTS {TABLE}_no_update", f"DROP TRIGGER IF EXISTS {TABLE}_no_early_delete"],
}


def audit_guard_install(connection) -> bool:
    """Install the triggers on `connection` if the table is there; False on other databases."""
    statements = {"postgresql": _POSTGRESQL, "sqlite": _SQLITE}.get(connection.vendor)
    if statements is None or TABLE not in connection.introspection.table_names():
        return False
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
    return True


def audit_guard_remove(connection) -> None:
    with connection.cursor() as cursor:
        for sql in _DROP.get(connection.vendor, []):
            cursor.execute(sql)
