"""Events as the services write them (payloads shaped as the API shows them; the email as a customer
types it, mixed case), for the connectors' tests: this app knows no domain model, so its tests
write the outbox directly."""

import pytest

from integrations.models import Connector
from integrations.services import event_emit


@pytest.fixture(name="settled")
def fixture_settled(settings):
    """Events are handed to connectors at once (no settle window)."""
    settings.CONNECTOR_SETTLE_SECONDS = 0


def refreshed(connector) -> Connector:
    return Connector.objects.get(pk=connector.pk)


def customer(cid="cus_1", email="Ada@Example.com", name="Ada Lovelace", type_="customer.created"):
    payload = {"customer": {"id": cid, "email": email, "name": name, "country": "DE", "currency": "EUR"}}
    return event_emit(type=type_, payload=payload, customer_id=cid)


def subscription(status, cid="cus_1", sid="sub_1", amount="9.99", trial_end=None, type_=None, cancel_reason=None):
    sub = {
        "id": sid,
        "customer": cid,
        "plan": "pln_1",
        "status": status,
        "price": {"amount": amount, "currency": "EUR"},
        "current_period_start": "2030-01-10T12:00:00+00:00",
        "current_period_end": "2030-02-10T12:00:00+00:00",
        "trial_end": trial_end,
        "cancel_reason": cancel_reason,
    }
    return event_emit(type=type_ or f"subscription.{status}", payload={"subscription": sub}, customer_id=cid)


def invoice_paid(total="9.99", cid="cus_1"):
    invoice = {"id": "inv_1", "customer": cid, "total": {"amount": total, "currency": "EUR"}}
    return event_emit(type="invoice.paid", payload={"invoice": invoice}, customer_id=cid)


def plan_created(pid="pln_1", code="stream-monthly", name="Streaming monthly"):
    plan = {"id": pid, "code": code, "name": name, "interval": "month", "interval_count": 1}
    return event_emit(type="plan.created", payload={"plan": plan})
