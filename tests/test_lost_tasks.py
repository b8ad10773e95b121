"""A task the broker lost (a worker killed with it in hand: Redis hands tasks out without
acknowledgement) loses nothing: emails wait in the outbox for the sweep, code generations are
resumed by theirs, and neither is done twice."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from coupons.models import CodeGeneration, CouponCode
from coupons.services import coupon_create
from coupons.services import generation as generation_module
from coupons.services.generation import code_generations_resume, codes_generate_enqueue
from payments.tests.factories import CustomerFactory
from plans import notifications
from plans.models import OutgoingEmail
from plans.services import customer_erase
from tests.subscription_helpers import mails, subscribe
from tests.subscription_lifecycle_helpers import FEB_10

pytestmark = pytest.mark.django_db


def lose_tasks(monkeypatch, module) -> list:
    """The module's async_task drops what it is given, as a killed worker does."""
    lost = []
    monkeypatch.setattr(module, "async_task", lambda *args, **kwargs: lost.append(args))
    return lost


def a_minute_passes():
    OutgoingEmail.objects.update(created_at=timezone.now() - timedelta(minutes=2))


def test_receipts_whose_task_was_lost_are_sent_once_by_the_sweep(billing, app, customer, monthly, monkeypatch):
    lost = lose_tasks(monkeypatch, notifications)
    subscribe(app, monthly)
    billing.run(FEB_10)
    assert lost, "the receipts were handed to the broker"
    assert mails("Receipt") == []

    assert notifications.emails_unsent_send() == 0  # written a moment ago: their task may still come
    a_minute_passes()
    assert notifications.emails_unsent_send() == 2
    assert notifications.emails_unsent_send() == 0
    receipts = mails("Receipt", to=customer.email)
    assert len(receipts) == 2
    assert OutgoingEmail.objects.filter(sent_at__isnull=True).count() == 0
    # A send repeated after a kill carries the same Message-ID: mail clients show it once.
    # (The tests' SITE_URL is http://localhost:8000.)
    ids = OutgoingEmail.objects.values_list("pk", flat=True)
    assert sorted(m.extra_headers["Message-ID"] for m in receipts) == sorted(f"<outbox-{pk}@localhost>" for pk in ids)


def test_a_task_that_comes_after_the_sweep_sends_nothing_more(billing, app, monthly, monkeypatch):
    lost = lose_tasks(monkeypatch, notifications)
    subscribe(app, monthly)
    a_minute_passes()
    notifications.emails_unsent_send()
    sent = len(mail.outbox)
    for _, ids in lost:  # the broker delivers late after all
        notifications.emails_send(ids)
    assert len(mail.outbox) == sent


def test_an_erased_customer_is_mailed_nothing_and_their_emails_are_deleted(
    billing, app, customer, monthly, monkeypatch
):
    lose_tasks(monkeypatch, notifications)
    subscribe(app, monthly)
    assert OutgoingEmail.objects.filter(customer=customer).exists()
    customer_erase(customer=customer)
    a_minute_passes()
    assert notifications.emails_unsent_send() == 0
    assert not OutgoingEmail.objects.filter(customer=customer).exists()
    assert mail.outbox == []


def test_sent_emails_are_purged_after_their_retention(billing, app, monthly, settings):
    subscribe(app, monthly)
    assert OutgoingEmail.objects.filter(sent_at__isnull=False).exists()
    assert notifications.emails_purge() == 0
    OutgoingEmail.objects.update(sent_at=timezone.now() - timedelta(days=settings.EMAIL_RETENTION_DAYS + 1))
    assert notifications.emails_purge() >= 1
    assert not OutgoingEmail.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_sweep_and_late_tasks_at_once_send_each_email_once(billing, app, monthly, monkeypatch):
    lose_tasks(monkeypatch, notifications)
    for _ in range(3):
        subscribe(billing.app(CustomerFactory()), monthly)
    subscribe(app, monthly)
    ids = list(OutgoingEmail.objects.values_list("pk", flat=True))
    a_minute_passes()
    start = threading.Barrier(3)

    def send(job):
        try:
            start.wait(timeout=30)
            job()
        finally:
            connection.close()

    jobs = [notifications.emails_unsent_send, lambda: notifications.emails_send(ids), notifications.emails_unsent_send]
    threads = [threading.Thread(target=send, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(mail.outbox) == len(ids)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        OutgoingEmail.objects.values_list("customer__email", flat=True)
    )


def test_a_code_generation_whose_task_was_lost_is_finished_by_the_sweep(db, monkeypatch, settings):
    campaign = coupon_create(
        name="Lost", kind="bulk", code_template="LOST-********", discount={"type": "percent", "percent_off": "10"}
    )
    lose_tasks(monkeypatch, generation_module)
    generation = codes_generate_enqueue(coupon=campaign, count=20_000)
    assert code_generations_resume() == 0  # younger than the task timeout: its task may be running
    CodeGeneration.objects.update(created_at=timezone.now() - timedelta(seconds=settings.Q_CLUSTER["timeout"] + 1))

    assert code_generations_resume() == 1
    generation.refresh_from_db()
    assert (generation.status, generation.generated) == ("succeeded", 20_000)
    assert CouponCode.objects.filter(coupon=campaign).count() == 20_000
    assert code_generations_resume() == 0


def test_support_sees_in_the_admin_which_emails_went_out(billing, app, customer, monthly, monkeypatch):
    from django.test import Client

    from conftest import sign_in_verified, staff_in_role

    lose_tasks(monkeypatch, notifications)
    subscribe(app, monthly)
    support = sign_in_verified(Client(HTTP_HOST="localhost"), staff_in_role("support"))
    unsent = support.get("/admin/plans/outgoingemail/?sent=no")
    assert unsent.status_code == 200
    email = OutgoingEmail.objects.get(customer=customer)
    assert f"/admin/plans/outgoingemail/{email.pk}/change/".encode() in unsent.content
    assert (
        f"/admin/plans/outgoingemail/{email.pk}/change/".encode()
        not in support.get("/admin/plans/outgoingemail/?sent=yes").content
    )
    page = support.get(f"/admin/plans/outgoingemail/{email.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # read-only: the services write the outbox
    marketing = sign_in_verified(Client(HTTP_HOST="localhost"), staff_in_role("marketing"))
    assert marketing.get("/admin/plans/outgoingemail/").status_code == 403


def test_an_email_that_fails_does_not_hold_back_the_others(billing, app, customer, monthly, monkeypatch):
    lose_tasks(monkeypatch, notifications)
    for _ in range(2):
        subscribe(billing.app(CustomerFactory()), monthly)
    refused = OutgoingEmail.objects.order_by("pk").first()
    real_deliver = notifications._deliver

    def smtp(email):
        if email.pk == refused.pk:
            raise OSError("550 mailbox unavailable")
        real_deliver(email)

    monkeypatch.setattr(notifications, "_deliver", smtp)
    a_minute_passes()
    assert notifications.emails_unsent_send() == OutgoingEmail.objects.count() - 1
    assert list(OutgoingEmail.objects.filter(sent_at__isnull=True)) == [refused]  # the next sweep tries again
