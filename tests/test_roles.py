"""The back office's roles (`manage.py setup_roles`): groups with their team's permissions, made
again safely; a staff member sees only what the role allows."""

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from conftest import sign_in_verified, staff_in_role
from mediamanager.roles import ROLES

pytestmark = pytest.mark.django_db


def _staff(django_user_model, client, role: str):
    return sign_in_verified(client, staff_in_role(role))


def test_setup_roles_makes_each_group_with_exactly_its_permissions_and_runs_again_safely():
    call_command("setup_roles", stdout=StringIO())
    support = Group.objects.get(name="support")
    support.permissions.add(Permission.objects.get(codename="change_gatewayaccount"))  # added by hand
    out = StringIO()

    call_command("setup_roles", stdout=out)

    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    assert not support.permissions.filter(codename="change_gatewayaccount").exists()
    assert support.permissions.filter(codename="change_subscription").exists()
    assert "support: 18 permissions" in out.getvalue()


@pytest.mark.parametrize(
    ("role", "sees", "does_not_see"),
    [
        ("support", ["/admin/payments/customer/", "/admin/plans/subscription/"], ["/admin/payments/gatewayaccount/", "/admin/integrations/apikey/"]),
        ("finance", ["/admin/payments/payment/", "/admin/payments/payout/"], ["/admin/coupons/coupon/", "/admin/payments/gatewayaccount/"]),
        ("marketing", ["/admin/coupons/coupon/"], ["/admin/payments/payment/", "/admin/payments/customer/"]),
        ("catalogue", ["/admin/plans/plan/"], ["/admin/payments/payment/", "/admin/coupons/coupon/"]),
        ("administrator", ["/admin/payments/gatewayaccount/", "/admin/integrations/apikey/"], ["/admin/coupons/coupon/"]),
    ],
)  # fmt: skip
def test_a_staff_member_sees_only_what_the_role_allows(django_user_model, client, role, sees, does_not_see):
    staff = _staff(django_user_model, client, role)

    index = staff.get("/admin/").content.decode()

    for path in sees:
        assert path in index, path
        assert staff.get(path).status_code == 200, path
    for path in does_not_see:
        assert path not in index, path
        assert staff.get(path).status_code == 403, path


@pytest.mark.parametrize(("role", "can_refund"), [("finance", True), ("support", False)])
def test_only_finance_is_offered_the_refund_action(django_user_model, client, role, can_refund):
    staff = _staff(django_user_model, client, role)

    page = staff.get("/admin/payments/payment/").content.decode()

    assert ("refund_in_full" in page) is can_refund


@pytest.mark.parametrize(("role", "can_operate"), [("support", True), ("catalogue", False)])
def test_only_support_is_offered_the_subscription_actions(django_user_model, client, role, can_operate):
    staff = _staff(django_user_model, client, role)

    page = staff.get("/admin/plans/subscription/").content.decode()

    assert ("cancel_now" in page) is can_operate


def test_support_refunds_one_payment_up_to_the_limit_and_finance_any_amount(
    django_user_model, client, customer, settings
):
    from conftest import client_for_customer
    from payments.models import Payment
    from payments.services import gateway_account_create
    from plans.tests.factories import PlanFactory
    from tests.payments_helpers import paid_checkout

    gateway_account_create(provider="sandbox", display_name="Sandbox")
    bought = paid_checkout(client_for_customer(customer), PlanFactory(code="monthly"))
    payment = Payment.objects.get(pk=bought["payment"]["id"])
    currency = payment.amount.currency.code
    settings.SUPPORT_REFUND_LIMITS = {currency: "1"}
    support = _staff(django_user_model, client, "support")
    url = f"/admin/payments/payment/{payment.pk}/refund/"

    assert url in support.get(f"/admin/payments/payment/{payment.pk}/change/").content.decode()
    too_much = support.post(url, {"amount": "1.01", "confirm": "yes", "refunded_before": "0"})
    assert "Support can refund up to 1" in too_much.content.decode()
    assert not payment.refunds.exists()

    support.post(url, {"amount": "1.00", "confirm": "yes", "refunded_before": "0"})
    assert [r.amount.amount for r in payment.refunds.all()] == [Decimal("1.00")]

    settings.SUPPORT_REFUND_LIMITS = {}
    elsewhere = support.post(url, {"amount": "0.50", "confirm": "yes", "refunded_before": "1.00"})
    assert f"Support cannot refund in {currency}" in elsewhere.content.decode()

    finance = _staff(django_user_model, client, "finance")
    finance.post(url, {"amount": "2.00", "confirm": "yes", "refunded_before": "1.00"})
    assert payment.refunds.count() == 2


def test_finance_exports_payments_refunds_invoices_and_payouts_as_csv_and_support_cannot(
    django_user_model, client, customer
):
    from conftest import client_for_customer
    from integrations.kernel.models import AuditEvent
    from payments.models import Payment
    from payments.services import gateway_account_create
    from plans.tests.factories import PlanFactory
    from tests.payments_helpers import paid_checkout

    gateway_account_create(provider="sandbox", display_name="Sandbox")
    bought = paid_checkout(client_for_customer(customer), PlanFactory(code="monthly"))
    payment = Payment.objects.get(pk=bought["payment"]["id"])
    finance = _staff(django_user_model, client, "finance")

    response = finance.post("/admin/payments/payment/", {"action": "export_csv", "_selected_action": [payment.pk]})

    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,created_at,captured_at,customer_id,invoice_id,status,amount_currency,amount,")
    row = dict(zip(lines[0].split(","), lines[1].split(","), strict=True))
    assert (row["id"], row["amount"], row["refunded"]) == (payment.pk, f"{payment.amount.amount:.2f}", "0.00")
    assert AuditEvent.objects.get(action="payment.exported").changes == {"rows": [None, 1]}
    for screen in ("refund", "invoice", "payout"):
        assert "export_csv" in finance.get(f"/admin/payments/{screen}/").content.decode(), screen

    support = _staff(django_user_model, client, "support")
    assert "export_csv" not in support.get("/admin/payments/payment/").content.decode()
    refused = support.post("/admin/payments/payment/", {"action": "export_csv", "_selected_action": [payment.pk]})
    assert not hasattr(refused, "streaming_content")
