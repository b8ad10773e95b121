"""`manage.py run_billing` shows its progress: a line per batch on stderr, then the time and rate;
the counts on stdout."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card
from plans.models import Subscription
from plans.services import checkout
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


def test_run_billing_prints_a_line_per_batch_and_ends_with_counts_time_and_rate(settings):
    settings.BILLING_ALLOW_TIME_TRAVEL = True
    settings.BILLING_BATCH_SIZE = 2
    account = sandbox_account()
    plan = PlanFactory(code="m", interval="month", prices=[{"amount": "10.00", "currency": "EUR"}])
    for _ in range(3):
        customer = CustomerFactory()
        checkout(
            customer=customer, plan_id=plan.id, payment_method_id=sandbox_card(customer=customer, account=account).id
        )
    due = max(Subscription.objects.values_list("current_period_end", flat=True)) + timedelta(minutes=1)
    out, err = StringIO(), StringIO()

    call_command("run_billing", as_of=due.isoformat(), stdout=out, stderr=err)

    lines = err.getvalue().strip().splitlines()
    assert re.fullmatch(r"batch of 2: renewing 2 \(2 billed in \d+\.\d s, \d+/s\)", lines[0]), lines
    assert re.fullmatch(r"batch of 1: renewing 1 \(3 billed in \d+\.\d s, \d+/s\)", lines[1]), lines
    assert re.fullmatch(r"billed 3 subscriptions in \d+\.\d s, \d+/s", lines[-1]), lines
    assert out.getvalue().strip() == "renewing 3"
