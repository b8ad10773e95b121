"""Helpers shared by the billing fault tests (tests/test_billing_faults_*.py, issue 4): a real
`manage.py run_billing` worker process, due subscriptions bulk-loaded with their customers and
sandbox cards, and the checks that every subscription was billed once and no card charged twice."""

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from dateutil.relativedelta import relativedelta
from django.db import connection
from django.db.models import Count

from payments.gateways.sandbox.models import SandboxCard, SandboxCharge
from payments.models import Customer, GatewayAccount, Invoice, Payment, PaymentMethod
from payments.services import gateway_account_create
from plans.models import Plan, PlanPrice, Subscription, SubscriptionInvoice
from plans.periods import period_end
from plans.tests.factories import PlanFactory

ROOT = Path(__file__).resolve().parent.parent
Status = Subscription.Status
RENEWAL = SubscriptionInvoice.Purpose.RENEWAL


def _database_url() -> str:
    """The test database this test's rows are committed to, for the worker processes."""
    params = connection.settings_dict
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    return f"postgres://{params['USER']}{password}@{params['HOST']}:{params['PORT']}/{params['NAME']}"


class Worker:
    """One `manage.py run_billing --as-of` OS process, its output kept in files (a full pipe must
    never stall a worker that holds row locks)."""

    def __init__(self, as_of: datetime, folder: Path, name: str):
        self.out_path, self.err_path = folder / f"{name}.out", folder / f"{name}.err"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mediamanager.test_settings",
            "DATABASE_URL": _database_url(),
            "BILLING_ALLOW_TIME_TRAVEL": "1",
            # Small batches spread 2,000 renewals over the workers; with the default of 500 the first
            # worker to start could take them all before the others have imported Django.
            "BILLING_BATCH_SIZE": "50",
            # Thousands of renewals: their receipts go without a PDF each (the PDF tests cover those).
            "RECEIPTS_ATTACH_PDF": "0",
        }
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "run_billing", "--as-of", as_of.isoformat()],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=err,
            )

    def finish(self, timeout: float = 300) -> Counter:
        """Wait for a clean exit; returns the counts it printed ("renewed 512, skipped 3")."""
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        out, err = self.out_path.read_text(), self.err_path.read_text()
        assert self.process.returncode == 0, out + err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        counts = Counter({name: int(count) for name, count in re.findall(r"([a-z_]+) (\d+)", out)})
        assert counts["error"] == 0, out + err[-3000:]
        return counts


def billed(counts: Counter) -> int:
    """Subscriptions a run did something to (renewals under whatever name the engine prints them),
    leaving out those it found taken by another worker."""
    return sum(n for outcome, n in counts.items() if outcome not in ("skipped", "idle"))


def run_billing_process(as_of: datetime, folder: Path, name: str = "worker") -> Counter:
    return Worker(as_of, folder, name).finish()


def _plan(code: str, interval: str) -> tuple[Plan, PlanPrice]:
    plan = PlanFactory(code=code, interval=interval, prices=[{"amount": "9.99", "currency": "EUR"}])
    return plan, PlanPrice.objects.get(plan=plan, amount_currency="EUR", is_current=True)


def _sandbox() -> GatewayAccount:
    return GatewayAccount.objects.filter(provider="sandbox").first() or gateway_account_create(
        provider="sandbox", display_name="Sandbox"
    )


def due_subscriptions(
    count: int, *, plan: Plan, price: PlanPrice, period_ends_at: datetime, prefix: str
) -> list[Subscription]:
    """`count` active subscriptions, each with its own customer and default sandbox card, whose
    period ended at `period_ends_at` (so they are due then), bulk-loaded in a few statements."""
    account = _sandbox()
    customers = Customer.objects.bulk_create(
        Customer(external_id=f"{prefix}-{i}", email=f"{prefix}-{i}@example.com", country="DE", currency="EUR")
        for i in range(count)
    )
    cards = SandboxCard.objects.bulk_create(
        SandboxCard(
            publishable_key=account.credentials["publishable_key"],
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2034,
            fingerprint=f"fp-{prefix}-{i}",
            behaviour=SandboxCard.Behaviour.SUCCEED,
        )
        for i in range(count)
    )
    methods = PaymentMethod.objects.bulk_create(
        PaymentMethod(
            customer=customer,
            gateway_account=account,
            gateway_reference=card.token,
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2034,
            fingerprint=card.fingerprint,
            is_default=True,
        )
        for customer, card in zip(customers, cards, strict=True)
    )
    start = period_ends_at - relativedelta(months=1) if plan.interval == "month" else period_ends_at - timedelta(days=1)
    return Subscription.objects.bulk_create(
        Subscription(
            customer=customer,
            plan=plan,
            price=price,
            currency="EUR",
            status=Status.ACTIVE,
            payment_method=method,
            current_period_start=start,
            current_period_end=period_ends_at,
            next_billing_at=period_ends_at,
            cycles_billed=1,
        )
        for customer, method in zip(customers, methods, strict=True)
    )


def renewal_counts() -> Counter:
    """Renewal invoices per subscription."""
    rows = SubscriptionInvoice.objects.filter(purpose=RENEWAL).values("subscription_id").annotate(n=Count("id"))
    return Counter({row["subscription_id"]: row["n"] for row in rows})


def charges_per_card() -> dict[str, int]:
    return dict(SandboxCharge.objects.values("card_id").annotate(n=Count("id")).values_list("card_id", "n"))


def assert_nobody_charged_twice(*, renewals_per_card: int | None = 1) -> None:
    """No invoice paid twice, no billing source invoiced twice, and (unless told otherwise) each
    card charged exactly once."""
    if renewals_per_card is not None:
        assert {card: n for card, n in charges_per_card().items() if n != renewals_per_card} == {}
    per_invoice = (
        Payment.objects.filter(status=Payment.Status.SUCCEEDED)
        .values("invoice_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(per_invoice) == []
    sources = Invoice.objects.values("source").annotate(n=Count("id")).filter(n__gt=1)
    assert list(sources) == []


def assert_renewed_once(subs: list[Subscription], *, old_end: datetime, plan: Plan) -> None:
    """Each subscription moved exactly one period on, paid by exactly one charge."""
    new_end = period_end(plan, old_end, anchor=old_end)
    ids = [sub.id for sub in subs]
    assert Subscription.objects.filter(pk__in=ids).count() == len(ids)
    stale = Subscription.objects.filter(pk__in=ids).exclude(
        status=Status.ACTIVE, cycles_billed=2, current_period_start=old_end, current_period_end=new_end
    )
    assert list(stale.values_list("id", "status", "cycles_billed", "current_period_end")) == []
    assert Subscription.objects.filter(pk__in=ids, next_billing_at=new_end).count() == len(ids)
    counts = renewal_counts()
    assert {sub_id: counts[sub_id] for sub_id in ids} == dict.fromkeys(ids, 1)


def _one_by_one(sub: Subscription) -> None:
    """Keep `sub` off the set-based path: its card is not the customer's default, so it is billed
    one by one (to the card it signed up with)."""
    PaymentMethod.objects.filter(pk=sub.payment_method_id).update(is_default=False)
