"""The Django admin's card and payment screens: cards show brand and last4 but never the fingerprint
or gateway reference and cannot be edited; payments are listed, filtered and searched, and their
page is read-only."""

import pytest

from payments import services
from payments.models import Payment
from payments.tests.admin_helpers import CARDS, PAYMENTS, _listed
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card, succeeded_payment

pytestmark = pytest.mark.django_db


# --- Cards ----------------------------------------------------------------------------------------


@pytest.fixture
def card():
    customer = CustomerFactory()
    return sandbox_card(customer=customer, account=sandbox_account())


def test_payment_method_changelist_shows_last4_but_not_the_fingerprint(superuser_client, card):
    response = superuser_client.get(CARDS)

    assert response.status_code == 200
    assert _listed(response) == [card.pk]
    assert b"4242" in response.content
    assert card.fingerprint.encode() not in response.content
    assert card.gateway_reference.encode() not in response.content


def test_payment_method_page_shows_last4_but_not_the_fingerprint(superuser_client, card):
    response = superuser_client.get(f"{CARDS}{card.pk}/change/")

    assert response.status_code == 200
    assert b"4242" in response.content
    assert b"visa" in response.content
    assert card.fingerprint.encode() not in response.content
    assert card.gateway_reference.encode() not in response.content


def test_payment_method_cannot_be_added_changed_or_deleted_in_the_admin(superuser_client, card):
    assert superuser_client.get(f"{CARDS}add/").status_code == 403
    assert superuser_client.post(f"{CARDS}{card.pk}/change/", {"last4": "0000"}).status_code == 403
    assert superuser_client.post(f"{CARDS}{card.pk}/delete/", {"post": "yes"}).status_code == 403
    card.refresh_from_db()
    assert card.last4 == "4242"


def test_payment_method_changelist_filters_detached_cards(superuser_client, card):
    services.payment_method_detach(payment_method=card)
    other = sandbox_card(customer=CustomerFactory(), account=card.gateway_account)

    assert _listed(superuser_client.get(CARDS, {"attached": "no"})) == [card.pk]
    assert _listed(superuser_client.get(CARDS, {"attached": "yes"})) == [other.pk]


# --- Payments: list ---------------------------------------------------------------------------------


def test_payment_changelist_lists_payments(superuser_client):
    payment = succeeded_payment()

    response = superuser_client.get(PAYMENTS)

    assert response.status_code == 200
    assert _listed(response) == [payment.pk]
    assert payment.pk.encode() in response.content


def test_payment_changelist_filters_by_customer_country(superuser_client):
    account = sandbox_account()
    german = succeeded_payment(customer=CustomerFactory(country="DE"), account=account)
    succeeded_payment(customer=CustomerFactory(country="AT"), account=account)

    response = superuser_client.get(PAYMENTS, {"customer__country": "DE"})

    assert _listed(response) == [german.pk]


def test_payment_changelist_filters_by_status_and_currency(superuser_client):
    account = sandbox_account()
    kept = succeeded_payment(account=account)
    refunded = succeeded_payment(account=account)
    services.payment_refund(payment=refunded)

    assert _listed(superuser_client.get(PAYMENTS, {"status": "succeeded", "amount_currency": "EUR"})) == [kept.pk]
    assert _listed(superuser_client.get(PAYMENTS, {"amount_currency": "JPY"})) == []


def test_payment_changelist_search_by_customer_email_finds_the_payment(superuser_client):
    account = sandbox_account()
    wanted = succeeded_payment(customer=CustomerFactory(email="ada@example.com"), account=account)
    succeeded_payment(customer=CustomerFactory(email="grace@example.com"), account=account)

    response = superuser_client.get(PAYMENTS, {"q": "ada@example.com"})

    assert _listed(response) == [wanted.pk]


def test_payment_changelist_search_by_gateway_reference_finds_the_payment(superuser_client):
    account = sandbox_account()
    wanted = succeeded_payment(account=account)
    succeeded_payment(account=account)

    response = superuser_client.get(PAYMENTS, {"q": wanted.gateway_reference})

    assert _listed(response) == [wanted.pk]


def test_payment_page_is_read_only(superuser_client):
    payment = succeeded_payment()

    response = superuser_client.post(f"{PAYMENTS}{payment.pk}/change/", {"status": "failed"})

    assert response.status_code == 403
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED


def test_payment_page_shows_the_card_as_brand_and_last4_only(superuser_client):
    payment = succeeded_payment()

    response = superuser_client.get(f"{PAYMENTS}{payment.pk}/change/")

    assert response.status_code == 200
    assert b"4242" in response.content
    assert payment.payment_method.fingerprint.encode() not in response.content
