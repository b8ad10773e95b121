"""Failover between the gateways of one region, rehearsed with the sandbox's outage drill: the
sandbox is the primary, the Adyen double its backup. While the primary answers nothing, new
signups go to the backup; renewals stay on the gateway that holds the card (the primary's wait and
are reconciled once it is back, never charged elsewhere); once the primary is back, new signups
return to it."""

from datetime import timedelta

import pytest

from payments.models import GatewayAccount
from payments.services import gateway_outage_drill, payments_reconcile
from payments.tests.factories import CustomerFactory
from tests.gateway_drivers import AdyenDriver, SandboxDriver
from tests.subscription_helpers import START, checkout, invoices, payments, subscription
from tests.subscription_lifecycle_helpers import FEB_10

pytestmark = pytest.mark.django_db


@pytest.fixture
def region(billing, adyen_account, adyen):
    primary = GatewayAccount.objects.get(provider="sandbox")
    GatewayAccount.objects.filter(pk=primary.pk).update(region="EU", priority=10)
    GatewayAccount.objects.filter(pk=adyen_account.pk).update(region="EU", priority=20)
    primary.refresh_from_db()
    adyen_account.refresh_from_db()
    return SandboxDriver(billing, primary), AdyenDriver(billing, adyen_account, adyen)


def signup(billing, app, plan, drivers) -> tuple[str, dict]:
    """What an app does: ask which gateway serves the customer, tokenize there, attach; on
    503 gateway_unavailable, ask again and start over; then check out. Returns (gateway, answer)."""
    for _ in range(2):
        gateway_id = app.get("/api/v1/me/gateway?currency=EUR").json()["id"]
        driver = drivers[gateway_id]
        attached = app.post(
            "/api/v1/me/payment-methods", {"gateway": gateway_id, "token": driver.token("ok")}, format="json"
        )
        if attached.status_code == 503:
            assert attached.json()["error"]["code"] == "gateway_unavailable"
            continue
        assert attached.status_code == 201, attached.content
        response = checkout(app, plan, attached.json())
        assert response.status_code == 201, response.content
        driver.deliver()
        return gateway_id, response.json()
    raise AssertionError("no gateway took the card")


def test_primary_down_signups_go_to_the_backup_renewals_stay_and_signups_return(billing, region, monthly):
    sandbox, adyen = region
    drivers = {sandbox.account.id: sandbox, adyen.account.id: adyen}
    apps = [billing.app(CustomerFactory(country="DE", currency="EUR")) for _ in range(5)]

    before, _ = signup(billing, apps[0], monthly, drivers)
    assert before == sandbox.account.id  # the primary, while it answers

    gateway_outage_drill(account=sandbox.account, on=True)
    billing.travel(START + timedelta(hours=1))
    during = [signup(billing, app, monthly, drivers)[0] for app in apps[1:3]]
    assert during == [adyen.account.id, adyen.account.id]
    primary = GatewayAccount.objects.get(pk=sandbox.account.pk)
    assert primary.unanswered == 1  # only the first signup met the outage; the second went straight to the backup

    # Renewals during the outage: each on the card's own gateway.
    renewals_at = FEB_10 + timedelta(hours=2)  # every period above has ended
    billing.run(renewals_at)
    adyen.deliver()
    assert [subscription(app, _sub_id(app))["status"] for app in apps[1:3]] == ["active", "active"]
    assert payments(apps[0])[1]["status"] == "processing"  # the primary's renewal waits for it
    assert len(adyen.charges()) == 4  # two checkouts, two renewals on the backup: none of the primary's

    gateway_outage_drill(account=sandbox.account, on=False)
    billing.travel(renewals_at + timedelta(minutes=10))  # past the failover window
    counts = payments_reconcile()
    assert counts["synced"] == 1
    assert payments(apps[0])[1]["status"] == "succeeded"
    assert [i["status"] for i in invoices(apps[0])] == ["paid", "paid"]
    assert len([c for c in sandbox.charges() if c["off_session"]]) == 1  # renewed once, on its own gateway

    after, _ = signup(billing, apps[3], monthly, drivers)
    assert after == sandbox.account.id  # new signups are back on the primary
    primary.refresh_from_db()
    assert (primary.unanswered, primary.unavailable_until) == (0, None)


def _sub_id(app) -> str:
    return app.get("/api/v1/me/subscriptions").json()["results"][0]["id"]


def test_only_a_gateway_that_can_play_an_outage_takes_the_drill(adyen_account):
    from integrations.kernel.errors import Unprocessable

    with pytest.raises(Unprocessable):
        gateway_outage_drill(account=adyen_account, on=True)


def test_with_every_gateway_of_the_customer_down_the_primary_is_still_offered(billing, region, monthly):
    sandbox, _ = region
    app = billing.app(CustomerFactory(country="DE", currency="EUR"))
    GatewayAccount.objects.update(unavailable_until=START + timedelta(minutes=1), unanswered=1)
    assert app.get("/api/v1/me/gateway?currency=EUR").json()["id"] == sandbox.account.id
