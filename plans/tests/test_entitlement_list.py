"""The entitlement list (one query written out for speed) agrees with the one rule of watching
(`entitled_until`, which `is_entitled` uses) for every status, grace and pass state, to the second;
and the lean check by customer token (one prepared statement) gives the same list."""

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from integrations.kernel.hashing import secret_hash
from payments.services import customer_token_create
from payments.tests.factories import CustomerFactory
from plans.models import Access, Subscription
from plans.selectors import entitlement_list, entitlements_by_customer_token, is_entitled
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db

STATUSES = [s.value for s in Subscription.Status]
NOW = timezone.now().replace(microsecond=0)


@hypothesis_settings(max_examples=40, deadline=None)
@given(
    subs=st.lists(st.tuples(st.sampled_from(STATUSES), st.integers(-3, 3)), max_size=4),
    passes=st.lists(st.tuples(st.sampled_from(["active", "expired"]), st.integers(-2, 2)), max_size=3),
)
def test_the_list_is_what_the_rule_says(subs, passes):
    customer = CustomerFactory()
    raw, _ = customer_token_create(customer=customer)
    grace = dt.timedelta(days=settings.BILLING_GRACE_DAYS)
    made = []
    for n, (status, offset) in enumerate(subs):
        plan = PlanFactory(code=f"p{n}-{customer.pk[-6:]}", interval="month")
        made.append(
            Subscription.objects.create(
                customer=customer,
                plan=plan,
                price=plan.prices.first(),
                currency="EUR",
                status=status,
                current_period_start=NOW - dt.timedelta(days=10),
                current_period_end=NOW + dt.timedelta(days=20),
                # past due: its grace ends `offset` seconds from now (0: this very second, no access)
                past_due_since=NOW - grace + dt.timedelta(seconds=offset) if status == "past_due" else None,
            )
        )
    day_pass = PlanFactory(code=f"d-{customer.pk[-6:]}", kind="one_off", interval=None, access_days=1)
    for status, offset in passes:
        Access.objects.create(
            customer=customer, plan=day_pass, price=day_pass.prices.first(), status=status,
            access_until=NOW + dt.timedelta(seconds=offset),
        )  # fmt: skip

    listed = entitlement_list(customer=customer, as_of=NOW)
    assert entitlements_by_customer_token(token_hash=secret_hash(raw), as_of=NOW) == (customer.pk, listed)

    expected_subs = sorted((s for s in made if is_entitled(s, NOW)), key=lambda s: (s.created_at, s.id), reverse=True)
    assert [e["subscription"] for e in listed if e["source"] == "subscription"] == [s.id for s in expected_subs]
    live = sorted((o for st_, o in passes if st_ == "active" and o > 0), reverse=True)
    assert [e["access_until"] for e in listed if e["source"] == "one_off"] == [
        NOW + dt.timedelta(seconds=o) for o in live
    ]
    for entry in listed:
        if entry["status"] == "past_due":
            sub = next(s for s in made if s.id == entry["subscription"])
            assert entry["access_until"] == sub.past_due_since + grace > NOW


def test_the_lean_check_knows_only_live_tokens():
    customer = CustomerFactory()
    raw, token = customer_token_create(customer=customer)
    assert entitlements_by_customer_token(token_hash=secret_hash(raw)) == (customer.pk, [])
    assert entitlements_by_customer_token(token_hash=secret_hash(raw + "x")) is None
    token.expires_at = timezone.now()
    token.save(update_fields=["expires_at"])
    assert entitlements_by_customer_token(token_hash=secret_hash(raw)) is None


def test_the_lean_check_is_counted_with_the_queries(django_assert_num_queries):
    """Its psycopg cursor is not Django's: it still shows where Django's queries are counted."""
    raw, _ = customer_token_create(customer=CustomerFactory())
    with django_assert_num_queries(1):
        entitlements_by_customer_token(token_hash=secret_hash(raw))
