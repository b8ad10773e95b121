"""Our Stripe secrets are at rest only in the gateway account's encrypted credentials: dj-stripe,
mirroring every webhook we process, keeps none of them in its own tables."""

import importlib
import re

import pytest
from django.apps import apps
from django.db import connection
from djstripe.models import APIKey
from djstripe.models import Event as StripeEvent
from djstripe.models import PaymentIntent as StripePaymentIntent

from payments.models import Payment, Refund
from payments.services import payment_refund
from tests.stripe_helpers import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    attach,
    checkout,
    intent_event,
    send_webhook,
    stripe_event,
    stripe_js_tokenize,
)

pytestmark = pytest.mark.django_db

# A Stripe secret or restricted key, or a webhook signing secret, wherever it appears in a row.
A_SECRET = re.compile(r"(?<![A-Za-z0-9])(?:[sr]k_(?:test|live)_|whsec_)")


def dj_stripe_rows() -> list[tuple[str, str]]:
    """Every row of every dj-stripe table, as text, read with SQL (not through dj-stripe's models)."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if table.startswith("djstripe"):
                cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
                rows += [(table, repr(row)) for row in cursor.fetchall()]
    return rows


def test_processing_webhooks_through_dj_stripe_leaves_no_stripe_secret_in_its_tables(
    customer_client, stripe_account, double, event_pass
):
    method = attach(customer_client, stripe_account, stripe_js_tokenize(double, "4000002760003184")).json()
    checkout(customer_client, event_pass, method["id"], return_url="https://app.example.com/back")
    payment = Payment.objects.get()
    double.authenticate(payment.gateway_reference, approve=True)
    settled = send_webhook(
        intent_event(double, payment.gateway_reference, "payment_intent.succeeded", "evt_paid"), stripe_account
    )
    assert settled.status_code == 200, settled.content
    refund = payment_refund(payment=Payment.objects.get())
    refunded = send_webhook(
        stripe_event("charge.refund.updated", double.refund_object(refund.gateway_reference), "evt_refund"),
        stripe_account,
    )
    assert refunded.status_code == 200, refunded.content
    assert Refund.objects.get().status == Refund.Status.SUCCEEDED
    # dj-stripe still keeps its copy: the events, and the objects they are about
    assert set(StripeEvent.objects.values_list("id", flat=True)) == {"evt_paid", "evt_refund"}
    assert StripePaymentIntent.objects.filter(id=payment.gateway_reference).exists()
    # nor does dj-stripe know our key once an event is processed
    assert StripeEvent.objects.get(id="evt_paid").default_api_key != SECRET_KEY

    rows = dj_stripe_rows()

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM djstripe_apikey")
        assert cursor.fetchone()[0] == 0
    assert {table for table, _ in rows} >= {"djstripe_event", "djstripe_paymentintent", "djstripe_account"}
    leaked = [(table, row) for table, row in rows if A_SECRET.search(row) or SECRET_KEY[8:] in row]
    assert leaked == []
    assert not [1 for _, row in rows if WEBHOOK_SECRET in row]


def test_the_migration_forgets_the_secret_keys_dj_stripe_kept_before():
    APIKey.objects.create(secret=SECRET_KEY, type="secret", livemode=False)
    APIKey.objects.create(secret="rk_test_51Restricted00000000000000000000", type="restricted", livemode=False)
    APIKey.objects.create(secret="pk_test_51Publishable0000000000000000000", type="publishable", livemode=False)
    migration = importlib.import_module("payments.migrations.0005_forget_djstripe_api_keys")

    migration.forget_secret_keys(apps, None)

    assert list(APIKey.objects.values_list("type", flat=True)) == ["publishable"]
