"""POST /api/v1/customers/{id}/erase (API.md "Data protection"): personal data anonymised, cards
detached here and at the gateway, live subscriptions canceled, invoices kept, events scrubbed;
twice is harmless; the external_id is free for a new customer."""

import json

import pytest
from rest_framework.test import APIClient

from conftest import client_for_customer
from integrations.kernel.api_keys import api_key_create
from integrations.models import Event
from payments.gateways.sandbox.gateway import SandboxGateway
from payments.models import Customer, GatewayCustomer, Invoice, Payment, PaymentMethod
from payments.services import gateway_account_create, gateway_cards_release_pending
from payments.tests.factories import CustomerFactory
from plans.models import Subscription
from plans.tests.factories import PlanFactory
from tests.payments_helpers import error_of, paid_checkout
from tests.stripe_helpers import attach, checkout, stripe_js_tokenize

pytestmark = pytest.mark.django_db


def erase(client, customer):
    return client.post(f"/api/v1/customers/{customer.id}/erase", format="json")


@pytest.fixture
def subscriber(db, customer, django_capture_on_commit_callbacks):
    gateway_account_create(provider="sandbox", display_name="Sandbox")
    app = client_for_customer(customer)
    with django_capture_on_commit_callbacks(execute=True):
        bought = paid_checkout(app, PlanFactory(code="monthly"))
    return customer, app, bought


def test_erasure_anonymises_cancels_and_keeps_the_invoices(
    operator_client, subscriber, mailoutbox, django_capture_on_commit_callbacks
):
    customer, app, bought = subscriber
    personal = [customer.email, customer.external_id, customer.name]
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = erase(operator_client, customer)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == customer.id and body["erased_at"]
    shown = operator_client.get(f"/api/v1/customers/{customer.id}").json()
    assert (shown["email"], shown["name"], shown["external_id"]) == (None, "", None)
    assert shown["erased_at"] == body["erased_at"]
    subscription = Subscription.objects.get(pk=bought["subscription"]["id"])
    assert subscription.status == Subscription.Status.CANCELED
    assert subscription.cancel_reason == Subscription.CancelReason.ERASED
    assert Invoice.objects.filter(pk=bought["invoice"]["id"], customer=customer).exists()
    assert Payment.objects.filter(pk=bought["payment"]["id"], customer=customer).exists()
    card = PaymentMethod.objects.get(customer=customer)
    assert card.detached_at and card.gateway_detached_at and not card.is_default
    stored = json.dumps([e.payload for e in Event.objects.filter(customer_id=customer.id)])
    assert not [value for value in personal if value and value in stored]
    assert Event.objects.filter(customer_id=customer.id, type="customer.erased").exists()
    assert mailoutbox == []  # no "your subscription has ended" to an erased address
    assert app.get("/api/v1/me/subscriptions").status_code == 401  # its tokens are gone


def test_the_erasure_is_audited_and_the_audit_log_keeps_no_personal_data(operator_client, subscriber):
    customer, _, _ = subscriber
    operator_client.patch(f"/api/v1/customers/{customer.id}", {"email": "changed@example.com"}, format="json")

    erase(operator_client, customer)

    entries = operator_client.get(f"/api/v1/audit-events?object={customer.id}").json()["results"]
    assert [e["action"] for e in entries][:1] == ["customer.erased"]
    assert {e["actor"]["type"] for e in entries} == {"api_key"}
    logged = json.dumps(entries)
    assert "changed@example.com" not in logged and customer.email not in logged and customer.external_id not in logged
    assert any("email" in e["changes"] for e in entries)  # that it changed is kept, not what it was


def test_the_admins_history_no_longer_names_the_erased_customer(operator_client, customer, admin_user):
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    LogEntry.objects.log_actions(admin_user.pk, [customer], CHANGE, change_message="Changed name.", single_object=True)
    assert customer.email in LogEntry.objects.get().object_repr

    erase(operator_client, customer)

    assert LogEntry.objects.get(content_type=ContentType.objects.get_for_model(Customer)).object_repr == (
        f"{customer.pk} (erased)"
    )


def test_erasing_twice_is_harmless(operator_client, subscriber, django_capture_on_commit_callbacks):
    customer, _, _ = subscriber
    first = erase(operator_client, customer).json()
    events = Event.objects.count()

    second = erase(operator_client, customer)

    assert second.status_code == 200 and second.json() == first
    assert Event.objects.count() == events


def test_the_same_external_id_then_starts_a_new_customer(operator_client, subscriber):
    customer, _, _ = subscriber
    external_id = customer.external_id
    erase(operator_client, customer)

    response = operator_client.post(
        "/api/v1/customers", {"external_id": external_id, "email": "back@example.com", "country": "DE"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["id"] != customer.id
    assert Customer.objects.get(pk=customer.id).external_id is None


def test_an_erased_customer_cannot_be_changed_or_given_tokens(operator_client, customer):
    erase(operator_client, customer)

    tokens = operator_client.post(f"/api/v1/customers/{customer.id}/tokens", {}, format="json")
    update = operator_client.patch(f"/api/v1/customers/{customer.id}", {"name": "Again"}, format="json")

    assert error_of(tokens) == (409, "invalid_request_error", "customer_erased")
    assert error_of(update) == (409, "invalid_request_error", "customer_erased")


def test_a_card_the_gateway_did_not_release_is_asked_again_by_the_sweep(
    operator_client, subscriber, monkeypatch, django_capture_on_commit_callbacks
):
    customer, _, _ = subscriber
    monkeypatch.setattr(SandboxGateway, "detach", lambda self, *, reference, customer_reference="": False)  # no answer
    with django_capture_on_commit_callbacks(execute=True):
        erase(operator_client, customer)
    assert PaymentMethod.objects.get(customer=customer).gateway_detached_at is None

    monkeypatch.undo()
    assert gateway_cards_release_pending() == 1

    assert PaymentMethod.objects.get(customer=customer).gateway_detached_at is not None
    assert gateway_cards_release_pending() == 0


def test_erasure_detaches_the_card_and_deletes_the_customer_at_stripe(
    operator_client, stripe_account, double, event_pass, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(country="DE", currency="EUR")
    app = client_for_customer(customer)
    method = attach(app, stripe_account, stripe_js_tokenize(double, "4242424242424242")).json()
    assert checkout(app, event_pass, method["id"]).status_code == 201
    reference = GatewayCustomer.objects.get(customer=customer).reference
    card = PaymentMethod.objects.get(customer=customer).gateway_reference
    double.requests.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert erase(operator_client, customer).status_code == 200

    sent = [(method_, path) for method_, path, _ in double.requests]
    assert ("POST", f"/v1/payment_methods/{card}/detach") in sent
    assert ("DELETE", f"/v1/customers/{reference}") in sent
    assert not GatewayCustomer.objects.filter(customer=customer).exists()


def test_removing_a_card_detaches_it_at_stripe(stripe_account, double, django_capture_on_commit_callbacks):
    customer = CustomerFactory(country="DE", currency="EUR")
    app = client_for_customer(customer)
    method = attach(app, stripe_account, stripe_js_tokenize(double, "4242424242424242")).json()

    with django_capture_on_commit_callbacks(execute=True):
        assert app.delete(f"/api/v1/me/payment-methods/{method['id']}").status_code == 204

    card = PaymentMethod.objects.get(pk=method["id"])
    assert ("POST", f"/v1/payment_methods/{card.gateway_reference}/detach") in [(m, p) for m, p, _ in double.requests]
    assert card.gateway_detached_at is not None


def test_erasure_needs_customers_write(customer, customer_client):
    raw, _ = api_key_create(name="reader", scopes=["read"])
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert error_of(erase(reader, customer))[2] == "insufficient_scope"
    assert error_of(erase(customer_client, customer)) == (403, "permission_error", "operator_key_required")
    assert Customer.objects.get(pk=customer.id).erased_at is None


def test_an_unknown_customer_answers_404(operator_client):
    assert erase(operator_client, Customer(id="cus_nobody")).status_code == 404
