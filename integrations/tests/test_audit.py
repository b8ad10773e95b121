"""The audit log's kernel: the context and its one writer, the generic hook on tracked models
(before/after, nothing without an actor, off while suppressed), the scrubber (no secret, no card
number), the database refusing UPDATE and early DELETE, the purge and its retention floor, and
events naming their actor."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from moneyed import Money

from integrations.kernel.api_keys import api_key_create, api_key_rename, api_key_revoke
from integrations.kernel.audit import (
    REDACTED,
    Actor,
    audit_actor,
    audit_context,
    audit_events_purge,
    audit_record,
    audit_suppressed,
    check_audit_retention,
    json_safe,
)
from integrations.models import ApiKey, AuditEvent, Event
from integrations.services import event_emit, events_emit

pytestmark = pytest.mark.django_db

OPERATOR = Actor("user", "7", "ops")


def _entry(action: str) -> AuditEvent:
    return AuditEvent.objects.get(action=action)


# --- The context and the writer ------------------------------------------------------------------


def test_audit_record_writes_the_contexts_actor_address_and_user_agent():
    with audit_context(actor=OPERATOR, ip="203.0.113.9", user_agent="Firefox/140"):
        assert audit_actor() == OPERATOR
        event = audit_record(
            action="plan.updated", object_type="plan", object_id="plan_1", changes={"name": ["a", "b"]}
        )

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.id.startswith("aud_")
    assert (stored.actor_type, stored.actor_id, stored.actor_name) == ("user", "7", "ops")
    assert (stored.ip, stored.user_agent, stored.outcome) == ("203.0.113.9", "Firefox/140", "succeeded")
    assert stored.changes == {"name": ["a", "b"]}
    assert audit_actor() is None  # the context ended


def test_without_an_actor_nothing_is_recorded_and_no_query_is_made():
    with CaptureQueriesContext(connection) as queries:
        assert audit_record(action="plan.updated", object_type="plan", object_id="plan_1") is None
    with audit_context(actor=None, ip="203.0.113.9"):  # a customer's request
        api_key_create(name="customer side")

    assert len(queries) == 0
    assert not AuditEvent.objects.exists()


def test_an_explicit_actor_wins_over_the_context():
    with audit_context(actor="system"):
        audit_record(action="staff.sign_in_failed", object_type="user", object_id="", outcome="refused", actor=OPERATOR)

    assert AuditEvent.objects.get().actor_name == "ops"


def test_an_unusable_address_is_left_empty_and_the_outcome_is_checked():
    with audit_context(actor="system", ip="not-an-address"):
        event = audit_record(action="x.y", object_type="x", object_id="1")
        with pytest.raises(ValueError):
            audit_record(action="x.y", object_type="x", object_id="1", outcome="maybe")

    assert event.ip == ""


# --- The generic hook ----------------------------------------------------------------------------


def test_a_tracked_models_create_change_and_delete_are_recorded_field_by_field():
    with audit_context(actor=OPERATOR):
        raw, key = api_key_create(name="crm", scopes=["read"])
        key = ApiKey.objects.get(pk=key.pk)
        key.name = "crm sync"
        key.save()
        key.save()  # nothing changed: no entry
        ApiKey.objects.get(pk=key.pk).delete()

    created, updated, deleted = (_entry(f"api_key.{what}") for what in ("created", "updated", "deleted"))
    assert created.object_id == key.pk and created.object_type == "api_key"
    assert created.changes["name"] == [None, "crm"]
    assert created.changes["scopes"] == [None, ["read"]]
    assert created.changes["key_hash"] == [None, REDACTED]
    assert updated.changes == {"name": ["crm", "crm sync"]}
    assert deleted.changes["name"] == ["crm sync", None]
    assert AuditEvent.objects.count() == 3
    assert raw not in json.dumps(list(AuditEvent.objects.values("changes")))
    assert key.key_hash not in json.dumps(list(AuditEvent.objects.values("changes")))


def test_services_that_write_with_update_record_their_own_entries():
    _, key = api_key_create(name="crm")

    with audit_context(actor=OPERATOR):
        api_key_rename(api_key=key, name="crm 2")
        api_key_revoke(api_key=key)
        api_key_revoke(api_key=key)  # already revoked: nothing more

    assert _entry("api_key.updated").changes == {"name": ["crm", "crm 2"]}
    revoked = _entry("api_key.revoked")
    assert revoked.changes["revoked_at"][0] is None and revoked.changes["revoked_at"][1]


def test_the_hook_is_off_while_suppressed_but_audit_record_still_writes():
    with audit_context(actor="system"), audit_suppressed():
        api_key_create(name="bulk")
        audit_record(action="billing.batch_billed", object_type="billing_run", object_id="x", changes={"n": [None, 2]})

    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["billing.batch_billed"]


def test_a_users_groups_are_recorded_before_and_after(django_user_model):
    from django.contrib.auth.models import Group

    support = Group.objects.create(name="support")
    user = django_user_model.objects.create_user("agent", "a@example.com", "a-long-enough-password")

    with audit_context(actor=OPERATOR):
        user = django_user_model.objects.get(pk=user.pk)
        user.groups.add(support)
        user.set_password("another-long-password")
        user.save()

    changes = [e.changes for e in AuditEvent.objects.filter(action="user.updated", object_id=str(user.pk))]
    assert {"groups": [[], ["support"]]} in changes
    assert {"password": [REDACTED, REDACTED]} in changes
    assert "another-long-password" not in json.dumps(changes)


# --- What may be kept ----------------------------------------------------------------------------


def test_money_dates_and_nested_values_are_kept_json_safe():
    assert json_safe(Money("9.99", "EUR")) == {"amount": "9.99", "currency": "EUR"}
    assert json_safe(datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2027-01-02T03:04:05Z"
    assert json_safe({"countries": ("DE", "FR"), "nested": {"secret_key": "sk_test_abc", "priority": 1}}) == {
        "countries": ["DE", "FR"],
        "nested": {"secret_key": REDACTED, "priority": 1},
    }
    assert json_safe(b"\x00bytes") == REDACTED


def test_card_numbers_and_our_secrets_are_redacted_wherever_they_appear():
    assert json_safe("card 4242 4242 4242 4242 was used") == f"card {REDACTED} was used"
    assert json_safe("4000002760003184") == REDACTED
    assert json_safe("order 1234567890123") == "order 1234567890123"  # 13 digits failing Luhn: not a card
    assert json_safe("mmk_live_abcdef") == REDACTED
    assert json_safe("whsec_abc") == REDACTED


def test_secret_fields_keep_only_that_they_changed():
    with audit_context(actor="system"):
        event = audit_record(
            action="gateway_account.updated",
            object_type="gateway_account",
            object_id="gw_1",
            changes={
                "credentials": [{"secret_key": "sk_test_old"}, {"secret_key": "sk_test_new"}],
                "cvc": [None, "123"],
            },
        )

    assert event.changes == {"credentials": [REDACTED, REDACTED], "cvc": [None, REDACTED]}


# --- Append-only, kept a year --------------------------------------------------------------------


def _fresh_event() -> AuditEvent:
    with audit_context(actor="system"):
        return audit_record(action="plan.updated", object_type="plan", object_id="plan_1")


@pytest.mark.postgres
def test_the_database_refuses_to_update_an_audit_event():
    event = _fresh_event()

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="plan.deleted")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE integrations_auditevent SET changes = '{}' WHERE id = %s", [event.pk])

    assert AuditEvent.objects.get(pk=event.pk).action == "plan.updated"


@pytest.mark.postgres
def test_the_database_refuses_to_delete_an_audit_event_younger_than_a_year():
    event = _fresh_event()

    with pytest.raises(DatabaseError, match="kept 365 days"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError, match="kept 365 days"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM integrations_auditevent")

    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_the_purge_deletes_only_entries_older_than_the_retention(settings):
    settings.AUDIT_RETENTION_DAYS = 400
    fresh = _fresh_event()
    now = timezone.now()
    kept = AuditEvent.objects.create(actor_type="system", action="a.b", object_type="a", at=now - timedelta(days=399))
    old = AuditEvent.objects.create(actor_type="system", action="a.b", object_type="a", at=now - timedelta(days=401))

    assert audit_events_purge() == 1

    assert set(AuditEvent.objects.values_list("pk", flat=True)) == {fresh.pk, kept.pk}
    assert not AuditEvent.objects.filter(pk=old.pk).exists()


def test_a_retention_under_a_year_is_refused(settings):
    settings.AUDIT_RETENTION_DAYS = 90

    with pytest.raises(ImproperlyConfigured, match="at least 365"):
        audit_events_purge()
    assert [error.id for error in check_audit_retention()] == ["integrations.E010"]


# --- Events name their actor ---------------------------------------------------------------------


def test_events_name_the_actor_of_their_context(operator_client):
    event_emit(type="customer.updated", payload={"n": 1})
    with audit_context(actor=OPERATOR):
        event_emit(type="customer.created", payload={"n": 2})
    with audit_context(actor="system"):
        events_emit([("subscription.renewed", {"n": i}, "cus_1") for i in range(25)])  # the COPY path on PostgreSQL
        events_emit([("subscription.renewed", {"n": 99}, "cus_1")])

    assert Event.objects.filter(type="subscription.renewed", actor_type="system").count() == 26
    listed = {e["type"]: e["actor"] for e in operator_client.get("/api/v1/events?limit=100").json()["results"]}
    assert listed["customer.created"] == {"type": "user", "id": "7", "name": "ops"}
    assert listed["customer.updated"] is None
    assert listed["subscription.renewed"] == {"type": "system", "id": None, "name": "system"}


def test_the_workers_tasks_act_as_system():
    from django_q.signals import post_execute_in_worker, pre_execute

    task = {"func": "plans.tasks.run_billing", "id": "t1"}
    pre_execute.send(sender="django_q", func=None, task=task)
    try:
        assert audit_actor() == Actor("system", "", "worker plans.tasks.run_billing")
    finally:
        post_execute_in_worker.send(sender="django_q", func=None, task=task)

    assert audit_actor() is None
