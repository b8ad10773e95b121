"""The audit log across the apps (issue 10, item 6): a refund through the API names the key, one in
the admin names the user; commands act as system or as `--actor`; staff sign-ins, failures,
sign-outs and lockouts are recorded (never the password); no secret reaches the log; bulk renewals
and code generation write one entry each; the admin screen is read-only, filtered and exported."""

import csv
import io
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from conftest import sign_in_verified
from coupons.services import coupon_create
from integrations.kernel.api_keys import api_key_create
from integrations.kernel.audit import Actor, audit_context, audit_record
from integrations.models import ApiKey, AuditEvent, Event
from mediamanager.schedules import SCHEDULES
from payments.services import gateway_account_create
from payments.tests.factories import succeeded_payment
from tests.payments_helpers import paid_checkout
from tests.subscription_helpers import subscribe
from tests.subscription_lifecycle_helpers import FEB_10

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def ops(django_user_model):
    return django_user_model.objects.create_superuser("ops", "ops@example.com", PASSWORD)


@pytest.fixture
def ops_client(ops):
    client = Client(HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="203.0.113.9")
    sign_in_verified(client, ops)
    return client


def _audit_client(*scopes):
    raw, _ = api_key_create(name="auditor", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


# --- Done when: refunds name who made them --------------------------------------------------------


def test_a_refund_through_the_api_shows_in_the_audit_log_with_the_key_as_actor(
    operator_client, customer_client, sandbox, event_pass
):
    payment_id = paid_checkout(customer_client, event_pass)["payment"]["id"]
    key = ApiKey.objects.get(name="tests")

    made = operator_client.post(
        f"/api/v1/payments/{payment_id}/refunds", {"amount": "4.00"}, format="json", HTTP_USER_AGENT="crm-sync/2"
    )

    assert made.status_code == 201, made.content
    listed = _audit_client("audit:read").get(f"/api/v1/audit-events?object={made.json()['id']}").json()["results"]
    created = next(event for event in listed if event["action"] == "refund.created")
    assert created["actor"] == {"type": "api_key", "id": key.pk, "name": "tests"}
    assert created["object"] == {"type": "refund", "id": made.json()["id"]}
    assert created["changes"]["amount"] == [None, {"amount": "4.00", "currency": "EUR"}]
    assert created["changes"]["payment"] == [None, payment_id]
    assert created["user_agent"] == "crm-sync/2" and created["ip"] == "127.0.0.1"
    assert any(e["action"] == "refund.updated" and e["changes"]["status"] == ["pending", "succeeded"] for e in listed)
    # The customer's checkout before it was nobody's operator change, and its event names no actor.
    assert not AuditEvent.objects.filter(object_id=payment_id, action="payment.created").exists()
    assert Event.objects.get(type="payment.refunded").actor_id == key.pk


def test_a_refund_in_the_admin_shows_with_the_user_as_actor(ops, ops_client):
    payment = succeeded_payment(amount="9.99")

    response = ops_client.post(
        "/admin/payments/payment/",
        {"action": "refund_in_full", "_selected_action": [payment.pk], "confirm": "yes"},
    )

    assert response.status_code == 302
    created = AuditEvent.objects.get(action="refund.created")
    assert (created.actor_type, created.actor_id, created.actor_name) == ("user", str(ops.pk), "ops")
    assert (created.ip, created.user_agent) == ("203.0.113.9", "Firefox/140")
    payment_change = AuditEvent.objects.get(action="payment.updated", object_id=payment.pk)
    assert payment_change.changes["status"] == ["succeeded", "refunded"]
    assert payment_change.actor_name == "ops"


def test_an_admin_change_form_and_an_admin_action_name_the_user(ops, ops_client):
    _, key = api_key_create(name="crm")

    ops_client.post(f"/admin/integrations/apikey/{key.pk}/change/", {"name": "crm sync"})
    ops_client.post(
        "/admin/integrations/apikey/", {"action": "revoke_selected", "_selected_action": [key.pk], "confirm": "yes"}
    )

    renamed = AuditEvent.objects.get(action="api_key.updated")
    assert (renamed.actor_name, renamed.changes) == ("ops", {"name": ["crm", "crm sync"]})
    revoked = AuditEvent.objects.get(action="api_key.revoked")
    action = AuditEvent.objects.get(action="api_key.revoke_selected")
    assert {revoked.actor_name, action.actor_name} == {"ops"}
    assert action.object_id == key.pk and action.outcome == "succeeded"


# --- Commands ------------------------------------------------------------------------------------


def test_a_command_acts_as_system_or_as_the_staff_user_named_by_actor(ops):
    call_command("create_api_key", "crm", stdout=StringIO())
    call_command("create_api_key", "desk", "--actor", "ops", stdout=StringIO())

    by_system = AuditEvent.objects.get(action="api_key.created", changes__name=[None, "crm"])
    by_ops = AuditEvent.objects.get(action="api_key.created", changes__name=[None, "desk"])
    assert (by_system.actor_type, by_system.actor_name) == ("system", "manage.py create_api_key")
    assert (by_ops.actor_type, by_ops.actor_id, by_ops.actor_name) == ("user", str(ops.pk), "ops")
    assert by_ops.user_agent == "manage.py create_api_key"


def test_a_command_refuses_an_actor_who_is_not_active_staff(django_user_model):
    django_user_model.objects.create_user("customer-care", "c@example.com", PASSWORD)  # not staff

    for actor in ("nobody", "customer-care"):
        with pytest.raises(CommandError, match="no active staff user"):
            call_command("create_api_key", "crm", "--actor", actor, stdout=StringIO())
    assert not ApiKey.objects.filter(name="crm").exists()


def test_demo_credentials_record_the_password_change_without_the_password():
    out = StringIO()
    call_command("demo_credentials", stdout=out)
    password = out.getvalue().split("admin login : operator / ")[1].split()[0]

    dumped = json.dumps(list(AuditEvent.objects.values("changes", "action")))
    assert "user.created" in dumped or "user.updated" in dumped
    assert password not in dumped
    assert "mmk_" not in dumped


# --- Sign-ins ------------------------------------------------------------------------------------


def _sign_in(client, username, password):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR="198.51.100.7",
        HTTP_USER_AGENT="Safari/18",
    )


def test_a_sign_in_a_failure_and_a_sign_out_are_recorded_with_address_and_user_agent(ops):
    client = Client()
    _sign_in(client, "ops", "wrong-password-123")
    assert _sign_in(client, "ops", PASSWORD).status_code == 302
    client.post("/admin/logout/", REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="Safari/18")

    rows = list(AuditEvent.objects.order_by("at", "id").values_list("action", "outcome", "actor_name", "actor_id"))
    assert rows == [
        ("staff.sign_in_failed", "refused", "ops", str(ops.pk)),
        ("staff.signed_in", "succeeded", "ops", str(ops.pk)),
        ("staff.signed_out", "succeeded", "ops", str(ops.pk)),
    ]
    assert set(AuditEvent.objects.values_list("ip", "user_agent")) == {("198.51.100.7", "Safari/18")}
    dumped = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "wrong-password-123" not in dumped and PASSWORD not in dumped


def test_a_failure_for_an_unknown_user_names_the_attempted_username():
    _sign_in(Client(), "mallory", "guess-guess-guess")

    failed = AuditEvent.objects.get(action="staff.sign_in_failed")
    assert (failed.actor_type, failed.actor_id, failed.actor_name, failed.outcome) == ("user", "", "mallory", "refused")


def test_a_lockout_is_recorded(ops):
    for _ in range(5):
        _sign_in(Client(), "ops", "wrong-password-123")

    locked = AuditEvent.objects.filter(action="staff.locked_out")
    assert locked.exists()
    assert {(e.actor_name, e.outcome, e.ip) for e in locked} == {("ops", "refused", "198.51.100.7")}
    assert AuditEvent.objects.filter(action="staff.sign_in_failed").count() >= 4


# --- No secret in the log ------------------------------------------------------------------------


def test_a_gateway_account_with_a_secret_key_is_recorded_without_it(ops):
    secrets = {"secret_key": "sk_test_51SuperSecret", "publishable_key": "pk_test_x", "webhook_secret": "whsec_abc"}
    with audit_context(actor=ops):
        account = gateway_account_create(provider="stripe", display_name="Stripe EU", credentials=secrets, active=False)

    created = AuditEvent.objects.get(action="gateway_account.created")
    assert created.object_id == account.pk and created.changes["display_name"] == [None, "Stripe EU"]
    assert created.changes["credentials"] == [None, "[redacted]"]
    dumped = json.dumps(list(AuditEvent.objects.values("changes")))
    assert "sk_test_51SuperSecret" not in dumped and "whsec_abc" not in dumped


def test_an_api_key_created_in_the_admin_is_recorded_without_the_key(ops_client):
    response = ops_client.post("/admin/integrations/apikey/add/", {"name": "Support desk", "scopes": ["read"]})

    assert response.status_code == 302
    key = ApiKey.objects.get(name="Support desk")
    created = AuditEvent.objects.get(action="api_key.created")
    assert created.actor_name == "ops" and created.object_id == key.pk
    assert created.changes["key_hash"] == [None, "[redacted]"]
    assert key.key_hash not in json.dumps(created.changes)


# --- Bulk services: one entry per batch ----------------------------------------------------------


def test_bulk_renewals_write_one_entry_for_the_batch(billing, monthly):
    from payments.tests.factories import CustomerFactory

    subs = [subscribe(billing.app(CustomerFactory()), monthly)["id"] for _ in range(3)]
    before = AuditEvent.objects.count()

    billing.run(FEB_10)  # manage.py run_billing: the system acts

    new = AuditEvent.objects.order_by("at")[before:]
    assert [event.action for event in new] == ["billing.batch_billed"]
    batch = new[0]
    assert batch.actor_type == "system" and batch.actor_name == "manage.py run_billing"
    assert batch.changes["subscriptions"] == [None, 3]
    assert batch.changes["renewing"] == [None, 3]
    assert Event.objects.filter(type="subscription.renewed").count() == len(subs)
    assert set(Event.objects.filter(type="subscription.renewed").values_list("actor_type", flat=True)) == {"system"}


def test_code_generation_writes_one_entry_with_the_count(ops):
    coupon = coupon_create(
        name="Bulk", kind="bulk", code_template="AUD-********", discount={"type": "percent", "percent_off": "10"}
    )

    call_command(
        "generate_coupon_codes", coupon.pk, "--count", "250", "--actor", "ops", stdout=StringIO(), stderr=StringIO()
    )

    entries = list(AuditEvent.objects.values_list("action", "object_id", "changes", "actor_name"))
    assert entries == [("coupon.codes_generated", coupon.pk, {"codes": [None, 250]}, "ops")]


# --- The admin screen ----------------------------------------------------------------------------


def test_the_audit_screen_is_read_only_even_for_a_superuser(ops_client):
    with audit_context(actor="system"):
        call_command("create_api_key", "crm", stdout=StringIO())
    event = AuditEvent.objects.first()
    base = "/admin/integrations/auditevent/"

    assert ops_client.get(base).status_code == 200
    listed = ops_client.get(f"{base}?actor_type__exact=system&outcome__exact=succeeded&action=api_key.created")
    assert listed.status_code == 200 and event.object_id.encode() in listed.content
    assert b"api_key.created" in ops_client.get(f"{base}?q=manage.py+create_api_key").content
    assert event.object_id.encode() not in ops_client.get(f"{base}?actor_type__exact=user").content
    page = ops_client.get(f"{base}{event.pk}/change/")
    assert page.status_code == 200 and b"api_key.created" in page.content
    assert ops_client.get(f"{base}add/").status_code == 403
    assert ops_client.post(f"{base}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    ops_client.post(f"{base}{event.pk}/change/", {"action": "x.y"})
    ops_client.post(base, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert AuditEvent.objects.get(pk=event.pk).action == "api_key.created"


def test_the_audit_csv_export_neutralises_formula_cells(ops_client):
    with audit_context(actor=Actor("user", "9", '=HYPERLINK("x")')):
        audit_record(action="plan.updated", object_type="plan", object_id="plan_1", changes={"name": ["a", "b"]})

    response = ops_client.post(
        "/admin/integrations/auditevent/",
        {"action": "export_csv", "_selected_action": list(AuditEvent.objects.values_list("pk", flat=True))},
    )

    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:6] == ["id", "at", "actor_type", "actor_id", "actor_name", "action"]
    assert rows[1][4] == '\'=HYPERLINK("x")'
    assert AuditEvent.objects.filter(action="audit_event.exported", actor_name="ops").exists()


def test_administrators_and_finance_may_view_the_audit_log_and_nobody_may_change_it():
    from mediamanager.roles import ROLES

    assert ROLES["administrator"]["integrations.auditevent"] == ("view",)
    assert ROLES["finance"]["integrations.auditevent"] == ("view",)
    assert all(perms == ("view",) for role in ROLES.values() for label, perms in role.items() if "auditevent" in label)
    assert "purge-audit-events" in {task.name for task in SCHEDULES}


def test_re_encrypting_the_secrets_writes_one_entry_with_the_counts(sandbox):
    call_command("reencrypt_secrets", stdout=StringIO())

    entry = AuditEvent.objects.get(action="secrets.reencrypted")
    assert entry.actor_name == "manage.py reencrypt_secrets"
    assert ["payments.GatewayAccount.credentials", 1] in entry.changes["rewritten"][1]
    assert sandbox.credentials["publishable_key"] not in json.dumps(entry.changes)
