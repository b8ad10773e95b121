"""The database's side of "the lines add up": on PostgreSQL, a deferred constraint trigger checks
at commit that every invoice written equals the sum of its lines (amounts, discounts, tax and
totals), so no path, however it writes them, can leave an invoice that disagrees with its lines.
Each line's own arithmetic (net + tax = total) is a CHECK constraint on the model. Installed by a
migration and after every migrate (a test database built without migrations gets it too);
installing twice is harmless. SQLite (`make run` only) has no deferred triggers and goes without."""

from payments.models import Invoice, InvoiceLine

INVOICES, LINES = Invoice._meta.db_table, InvoiceLine._meta.db_table

_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION {INVOICES}_adds_up() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        checked text;
    BEGIN
        IF TG_TABLE_NAME = '{INVOICES}' THEN  -- each branch reads the column its table has
            checked := NEW.id;
        ELSE
            checked := NEW.invoice_id;
        END IF;
        IF EXISTS (
            SELECT 1
            FROM {INVOICES} i,
                 LATERAL (SELECT count(*) AS n,
                                 coalesce(sum(l.quantity * l.unit_amount), 0) AS amount,
                                 coalesce(sum(l.discount_amount), 0) AS discount,
                                 coalesce(sum(l.tax_amount), 0) AS tax,
                                 coalesce(sum(l.total), 0) AS total
                          FROM {LINES} l WHERE l.invoice_id = i.id) s
            WHERE i.id = checked
              AND (s.n = 0 OR s.amount <> i.subtotal OR s.discount <> i.discount_total
                   OR s.tax <> i.tax_total OR s.total <> i.total)
        ) THEN
            RAISE EXCEPTION 'invoice % does not add up to its lines', checked
                USING ERRCODE = 'check_violation', CONSTRAINT = 'invoice_adds_up_to_lines';
        END IF;
        RETURN NULL;
    END
    $$
    """,  # noqa: S608 - the table names are our models'
    f"DROP TRIGGER IF EXISTS invoice_adds_up_to_lines ON {INVOICES}",
    f"DROP TRIGGER IF EXISTS invoice_line_adds_up_to_invoice ON {LINES}",
    f"""
    CREATE CONSTRAINT TRIGGER invoice_adds_up_to_lines
        AFTER INSERT OR UPDATE OF subtotal, discount_total, tax_total, total ON {INVOICES}
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {INVOICES}_adds_up()
    """,
    f"""
    CREATE CONSTRAINT TRIGGER invoice_line_adds_up_to_invoice
        AFTER INSERT OR UPDATE ON {LINES}
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {INVOICES}_adds_up()
    """,
]

_REMOVE = [
    f"DROP TRIGGER IF EXISTS invoice_line_adds_up_to_invoice ON {LINES}",
    f"DROP TRIGGER IF EXISTS invoice_adds_up_to_lines ON {INVOICES}",
    f"DROP FUNCTION IF EXISTS {INVOICES}_adds_up()",
]


def invoice_guard_install(connection) -> bool:
    """Install the check on `connection` (PostgreSQL, once the tables exist); False elsewhere."""
    if connection.vendor != "postgresql" or LINES not in connection.introspection.table_names():
        return False
    with connection.cursor() as cursor:
        for sql in _INSTALL:
            cursor.execute(sql)
    return True


def invoice_guard_remove(connection) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for sql in _REMOVE:
                cursor.execute(sql)
