"""The same end-to-end scenarios against every gateway: the sandbox, the Stripe double and the
Adyen double (tests/gateway_drivers.py maps each scenario's card behaviours to the gateway's test
cards). Over HTTP as the app, the cardholder and the operator drive it, with `run_billing --as-of`
moving time: checkout, renewals with and without 3-D Secure, refunds, dunning."""

from datetime import timedelta
from decimal import Decimal

import pytest

from payments.models import GatewayAccount
from tests.gateway_drivers import AdyenDriver, SandboxDriver, StripeDriver
from tests.subscription_helpers import (
    PAY_LINK_RE,
    RETURN_URL,
    checkout,
    entitled,
    events,
    invoices,
    local_path,
    mails,
    make_default,
    payments,
    subscription,
)
from tests.subscription_lifecycle_helpers import FEB_10, MAR_10, at, attempts

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["sandbox", "stripe", "adyen"])
def gateway(request, billing):
    if request.param == "sandbox":
        return SandboxDriver(billing, GatewayAccount.objects.get(provider="sandbox"))
    if request.param == "stripe":
        account = request.getfixturevalue("stripe_account")
        driver = StripeDriver(billing, account, request.getfixturevalue("double"))
    else:
        account = request.getfixturevalue("adyen_account")
        driver = AdyenDriver(billing, account, request.getfixturevalue("adyen"))
    GatewayAccount.objects.filter(pk=account.pk).update(priority=10)  # before the billing world's sandbox
    return driver


def subscribe(gateway, app, plan, behaviour="ok") -> dict:
    response = checkout(app, plan, gateway.attach(app, behaviour), return_url=RETURN_URL)
    assert response.status_code == 201, response.content
    gateway.deliver()
    return response.json()


def test_checkout_charges_on_session_and_the_renewal_is_merchant_initiated(gateway, billing, app, monthly):
    first = subscribe(gateway, app, monthly)
    assert first["subscription"]["status"] == "active"
    assert first["payment"]["status"] == "succeeded"
    assert entitled(app) is True

    billing.run(FEB_10)
    gateway.deliver()

    sub = subscription(app, first["subscription"]["id"])
    assert sub["status"] == "active" and sub["cycles_billed"] == 2
    assert (at(sub["current_period_start"]), at(sub["current_period_end"])) == (FEB_10, MAR_10)
    assert [i["status"] for i in invoices(app)] == ["paid", "paid"]
    assert [p["status"] for p in payments(app)] == ["succeeded", "succeeded"]
    charges = gateway.charges()
    assert [(c["minor"], c["off_session"]) for c in charges] == [(999, False), (999, True)]
    assert [c["key"] for c in charges] == [f"{p['id']}-1" for p in payments(app)]  # our keys, one per attempt
    assert entitled(app) is True


def test_checkout_with_3ds_is_settled_once_the_cardholder_approves(gateway, billing, app, monthly):
    first = checkout(app, monthly, gateway.attach(app, "sca_first"), return_url=RETURN_URL).json()
    assert first["payment"]["status"] == "requires_action"
    assert entitled(app) is False

    gateway.authenticate(first["payment"]["next_action"]["url"], approve=True)

    sub = subscription(app, first["subscription"]["id"])
    assert sub["status"] == "active"
    assert payments(app)[0]["status"] == "succeeded"
    assert entitled(app) is True


def test_checkout_with_3ds_refused_by_the_cardholder_grants_nothing(gateway, billing, app, monthly):
    first = checkout(app, monthly, gateway.attach(app, "sca_first"), return_url=RETURN_URL).json()

    gateway.authenticate(first["payment"]["next_action"]["url"], approve=False)

    assert subscription(app, first["subscription"]["id"])["status"] == "incomplete_expired"
    assert (payments(app)[0]["status"], payments(app)[0]["decline_code"]) == ("failed", "authentication_failed")
    assert entitled(app) is False


def test_a_renewal_the_bank_wants_authenticated_is_paid_after_3ds_on_the_pay_now_page(
    gateway, billing, app, customer, monthly
):
    first = checkout(app, monthly, gateway.attach(app, "sca_always"), return_url=RETURN_URL).json()
    gateway.authenticate(first["payment"]["next_action"]["url"], approve=True)
    sub_id = first["subscription"]["id"]
    assert subscription(app, sub_id)["status"] == "active"

    billing.run(FEB_10)
    gateway.deliver()

    assert subscription(app, sub_id)["status"] == "past_due"
    renewal = payments(app)[1]
    assert renewal["decline_code"] == "authentication_required"
    by_key = {c["key"]: c for c in gateway.charges()}  # by our keys: one clock instant orders nothing
    assert by_key[f"{renewal['id']}-1"]["off_session"] is True
    [email] = mails("confirm", to=customer.email)
    link = PAY_LINK_RE.search(email.body).group(0)
    paying = billing.browser.post(local_path(link))
    assert paying.status_code == 302, paying.content

    gateway.authenticate(paying["Location"], approve=True)

    sub = subscription(app, sub_id)
    assert sub["status"] == "active" and sub["cycles_billed"] == 2
    assert [i["status"] for i in invoices(app)] == ["paid", "paid"]
    assert payments(app)[1]["status"] == "succeeded"
    by_key = {c["key"]: c for c in gateway.charges()}
    assert by_key[f"{renewal['id']}-2"]["off_session"] is False  # the cardholder was there
    assert entitled(app) is True
    assert len(mails("Receipt", to=customer.email)) == 2


def test_partial_then_full_refund_is_settled_by_the_gateway(gateway, billing, app, customer, monthly):
    first = subscribe(gateway, app, monthly)
    payment_id = first["payment"]["id"]
    gateway.expect_pending_refunds()

    partial = billing.operator.post(f"/api/v1/payments/{payment_id}/refunds", {"amount": "4.00"}, format="json")
    assert partial.status_code == 201, partial.content
    gateway.refunds_settle()
    rest = billing.operator.post(f"/api/v1/payments/{payment_id}/refunds", {}, format="json")
    assert rest.status_code == 201, rest.content
    assert rest.json()["amount"] == {"amount": "5.99", "currency": "EUR"}
    gateway.refunds_settle()

    payment = billing.operator.get(f"/api/v1/payments/{payment_id}").json()
    assert payment["status"] == "refunded"
    assert Decimal(payment["amount_refunded"]["amount"]) == Decimal("9.99")
    refunded = events(billing, "payment.refunded", customer.id)
    amounts = sorted(Decimal(e["data"]["refund"]["amount"]["amount"]) for e in refunded)  # one clock instant
    assert amounts == [Decimal("4.00"), Decimal("5.99")]


def test_dunning_retries_a_refused_renewal_after_1_3_and_5_days_then_cancels(gateway, billing, app, monthly):
    sub_id = subscribe(gateway, app, monthly)["subscription"]["id"]
    make_default(app, gateway.attach(app, "charges_fail"))

    billing.run(FEB_10)
    gateway.deliver()
    assert subscription(app, sub_id)["status"] == "past_due"
    assert payments(app)[1]["decline_code"] == gateway.charges_fail_code
    assert entitled(app) is True  # the grace period

    for day in (1, 3):
        billing.run(FEB_10 + timedelta(days=day))
        gateway.deliver()
    assert subscription(app, sub_id)["status"] == "past_due"
    billing.run(FEB_10 + timedelta(days=5))
    gateway.deliver()

    assert attempts(app)[1] == ("failed", 4)
    ended = subscription(app, sub_id)
    assert (ended["status"], ended["cancel_reason"]) == ("canceled", "payment_failed")
    assert entitled(app) is False
    renewal_keys = [c["key"] for c in gateway.charges()[1:]]
    assert len(renewal_keys) == 4 and len(set(renewal_keys)) == 4  # a new idempotency key per try
    assert all(c["off_session"] for c in gateway.charges()[1:])


def test_a_trial_behind_a_card_sets_it_up_without_charging_then_charges_off_session(gateway, billing, app, trial_plan):
    first = subscribe(gateway, app, trial_plan)
    assert first["subscription"]["status"] == "trialing"
    assert first["payment"] is None and first["setup"] is None
    assert gateway.charges() == []  # a setup, no charge
    assert entitled(app) is True

    billing.run(at(first["subscription"]["trial_end"]))
    gateway.deliver()

    sub = subscription(app, first["subscription"]["id"])
    assert sub["status"] == "active"
    assert [(c["minor"], c["off_session"]) for c in gateway.charges()] == [(999, True)]


def test_a_trial_card_that_asks_for_3ds_is_authenticated_on_the_banks_page(gateway, billing, app, trial_plan):
    body = checkout(app, trial_plan, gateway.attach(app, "sca_always"), return_url=RETURN_URL).json()
    assert body["subscription"]["status"] == "trialing"
    assert body["setup"]["status"] == "requires_action"

    back = gateway.authenticate(body["setup"]["next_action"]["url"], approve=True)

    if back is not None:
        assert back["Location"].startswith(RETURN_URL)
    assert subscription(app, body["subscription"]["id"])["status"] == "trialing"
    assert gateway.charges() == []
