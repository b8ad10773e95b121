"""3-D Secure end to end with the sandbox gateway: a checkout that asks for authentication, the
challenge page approved, failed or answered twice, and which later payments are asked again."""

from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from integrations.models import Event
from payments.gateways.sandbox.models import SandboxCharge
from payments.models import Invoice, Payment
from plans.models import Access
from tests.payments_helpers import RETURN_URL, attach_card, buy, challenge_path, entitled

pytestmark = pytest.mark.django_db


# --- 3-D Secure


def test_three_d_secure_approved_settles_payment_and_grants_access(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002760003184")

    response = buy(customer_client, event_pass, card, return_url=RETURN_URL)

    assert response.status_code == 201, response.content
    body = response.json()
    payment_id = body["payment"]["id"]
    assert body["payment"]["status"] == "requires_action"
    assert body["payment"]["next_action"]["type"] == "redirect_to_url"
    assert body["invoice"]["status"] == "open"
    assert body["subscription"]["status"] == "pending"
    assert entitled(customer_client) is False

    path = challenge_path(body["payment"]["next_action"]["url"])
    browser = APIClient()
    page = browser.get(path)
    assert page.status_code == 200
    assert b"Approve" in page.content and b"Fail" in page.content
    done = browser.post(path, {"action": "approve"})

    assert done.status_code == 302
    location = urlsplit(done["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == RETURN_URL
    assert parse_qs(location.query) == {"payment": [payment_id]}
    payment = customer_client.get(f"/api/v1/me/payments/{payment_id}").json()
    assert payment["status"] == "succeeded"
    assert payment["next_action"] is None
    assert Invoice.objects.get(pk=body["invoice"]["id"]).status == Invoice.Status.PAID
    assert entitled(customer_client) is True


def test_three_d_secure_failed_fails_the_payment_and_never_grants_access(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002500003155")
    body = buy(customer_client, event_pass, card, return_url=f"{RETURN_URL}?from=checkout").json()
    payment_id = body["payment"]["id"]
    assert body["payment"]["status"] == "requires_action"

    done = APIClient().post(challenge_path(body["payment"]["next_action"]["url"]), {"action": "fail"})

    assert done.status_code == 302
    assert parse_qs(urlsplit(done["Location"]).query) == {"from": ["checkout"], "payment": [payment_id]}
    payment = customer_client.get(f"/api/v1/me/payments/{payment_id}").json()
    assert payment["status"] == "failed"
    assert payment["decline_code"] == "authentication_failed"
    access = Access.objects.get(pk=body["subscription"]["id"])
    assert access.status == Access.Status.FAILED
    assert access.access_from is None and access.access_until is None
    assert entitled(customer_client) is False


def test_answering_the_challenge_page_twice_changes_nothing(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002500003155")
    body = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()
    path = challenge_path(body["payment"]["next_action"]["url"])
    browser = APIClient()
    browser.post(path, {"action": "fail"})
    first_state = Payment.objects.values("status", "decline_code", "updated_at").get(pk=body["payment"]["id"])

    again = browser.post(path, {"action": "approve"})

    assert again.status_code == 302
    assert Payment.objects.values("status", "decline_code", "updated_at").get(pk=body["payment"]["id"]) == first_state
    assert SandboxCharge.objects.get().status == SandboxCharge.Status.FAILED
    assert Access.objects.get().status == Access.Status.FAILED
    assert entitled(customer_client) is False
    assert Event.objects.filter(type="payment.failed").count() == 1


def test_answering_an_approved_challenge_again_grants_access_once(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002760003184")
    body = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()
    path = challenge_path(body["payment"]["next_action"]["url"])
    browser = APIClient()
    browser.post(path, {"action": "approve"})
    access_until = Access.objects.get().access_until

    browser.post(path, {"action": "fail"})

    assert Payment.objects.get().status == Payment.Status.SUCCEEDED
    assert Access.objects.get().access_until == access_until
    assert Event.objects.filter(type="payment.succeeded").count() == 1
    assert Event.objects.filter(type="invoice.paid").count() == 1


# --- Which payments ask for authentication


def test_a_card_authenticated_once_is_not_asked_again_on_session(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002500003155")
    first = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()
    APIClient().post(challenge_path(first["payment"]["next_action"]["url"]), {"action": "approve"})

    second = buy(customer_client, event_pass, card, return_url=RETURN_URL)

    assert second.status_code == 201, second.content
    assert second.json()["payment"]["status"] == "succeeded"


def test_a_card_that_failed_authentication_is_asked_again(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002500003155")
    first = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()
    APIClient().post(challenge_path(first["payment"]["next_action"]["url"]), {"action": "fail"})

    second = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()

    assert second["payment"]["status"] == "requires_action"


def test_a_card_that_always_authenticates_is_asked_every_time(customer_client, sandbox, event_pass):
    card = attach_card(customer_client, "4000002760003184")
    first = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()
    APIClient().post(challenge_path(first["payment"]["next_action"]["url"]), {"action": "approve"})

    second = buy(customer_client, event_pass, card, return_url=RETURN_URL).json()

    assert second["payment"]["status"] == "requires_action"
    assert second["payment"]["next_action"]["url"] != first["payment"]["next_action"]["url"]
