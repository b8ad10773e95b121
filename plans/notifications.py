"""Emails to subscribers (HTML and text, Django's email backend) through an outbox
(`plans.OutgoingEmail`): written in the transaction that caused them, so a rolled-back change
never mails anyone, and sent by the worker, with a sweep, so a lost task loses no email."""

import logging
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from payments.currency import format_amount
from payments.services import invoice_document_render
from plans.models import OutgoingEmail, SubscriptionInvoice

logger = logging.getLogger("plans.notifications")

SEND_TASK = "plans.notifications.emails_send"
PAY_LINK_SALT = "plans.pay-now.invoice"  # links of the first release (per subscription) no longer open


def _send(*, template: str, customer, subject: str, context: dict) -> None:
    """Render now, write it to the outbox in the caller's transaction, hand it to the django-q2
    worker after commit: billing never waits for SMTP."""
    if not customer.email:  # the customer was erased: no address, no mail
        return
    context = {"site_url": settings.SITE_URL, **context}
    email = OutgoingEmail.objects.create(
        customer=customer,
        template=template,
        subject=subject,
        text=render_to_string(f"emails/{template}.txt", context),
        html=render_to_string(f"emails/{template}.html", context),
    )
    transaction.on_commit(lambda: async_task(SEND_TASK, [email.pk], task_name=f"email-{template}"))


def receipts(*, invoice_ids: list[str]) -> None:
    """Receipts for many renewals: written to the outbox now, rendered and sent by one task."""
    links = list(
        SubscriptionInvoice.objects.filter(invoice_id__in=invoice_ids)
        .exclude(subscription__customer__email="")
        .values_list("invoice_id", "subscription__customer_id")
    )
    emails = OutgoingEmail.objects.bulk_create(
        OutgoingEmail(customer_id=customer_id, template="receipt", invoice_id=invoice_id)
        for invoice_id, customer_id in links
    )
    if emails:
        ids = [email.pk for email in emails]
        transaction.on_commit(lambda: async_task(SEND_TASK, ids, task_name="email-receipts"))


def emails_send(email_ids: list[int]) -> int:
    """The worker's side: each email sent and marked sent in one transaction that holds its row,
    so two workers (the task and the sweep) never both send it, and one killed mid-send leaves it
    unsent for the sweep. At least once: SMTP may take a message just before a kill."""
    sent = 0
    for email_id in email_ids:
        try:
            sent += _send_one(email_id)
        except Exception:  # one refused address or SMTP hiccup must not hold back the rest
            logger.exception("Email %s could not be sent; the sweep tries again", email_id)
    return sent


@transaction.atomic
def _send_one(email_id: int) -> int:
    email = (
        OutgoingEmail.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("customer", "invoice")
        .filter(pk=email_id, sent_at__isnull=True)
        .first()
    )
    if email is None:  # sent already, or being sent by another worker
        return 0
    delivered = 0
    if email.customer.email:  # else erased since: nothing goes
        _deliver(email)
        delivered = 1
    email.sent_at = timezone.now()
    email.save(update_fields=["sent_at"])
    return delivered


def emails_unsent_send(*, as_of=None) -> int:
    """The sweep (every minute): emails still unsent a minute after they were written, their task
    lost (a worker killed with it in hand) or failed (SMTP down), retried for EMAIL_RETRY_DAYS.
    `as_of`: the sweep as it will run then (the scale-out rehearsal's later ticks)."""
    now = as_of or timezone.now()
    ids = list(
        OutgoingEmail.objects.filter(
            sent_at__isnull=True,
            created_at__lt=now - timedelta(minutes=1),
            created_at__gte=now - timedelta(days=settings.EMAIL_RETRY_DAYS),
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:5000]
    )
    return emails_send(ids)


def emails_purge() -> int:
    """Sent emails are deleted after EMAIL_RETENTION_DAYS (they hold personal data), and unsent
    ones past their retries."""
    now = timezone.now()
    deleted, _ = OutgoingEmail.objects.filter(
        Q(sent_at__lt=now - timedelta(days=settings.EMAIL_RETENTION_DAYS))
        | Q(sent_at__isnull=True, created_at__lt=now - timedelta(days=settings.EMAIL_RETRY_DAYS))
    ).delete()
    return deleted


def _message_id(email: OutgoingEmail) -> str:
    """The same Message-ID every time this email goes out: a second send (a worker killed after
    SMTP took it, before it was marked sent) is the same message, which mail clients show once."""
    return f"<outbox-{email.pk}@{urlsplit(settings.SITE_URL).hostname or 'localhost'}>"


def _deliver(email: OutgoingEmail) -> None:
    if email.template == "receipt":
        _deliver_receipt(email)
        return
    deliver_email(email.subject, email.text, email.html, email.customer.email, message_id=_message_id(email))


def deliver_email(
    subject: str, text: str, html: str, to: str, attachments: tuple = (), message_id: str | None = None
) -> None:
    """Send one email; `attachments`: (file name, bytes, MIME type) each."""
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Message-ID": message_id} if message_id else None,
    )
    message.attach_alternative(html, "text/html")
    for name, content, mimetype in attachments:
        message.attach(name, content, mimetype)
    message.send()


def _invoice_pdf(invoice) -> tuple:
    """The invoice's stored PDF as an attachment (rendered here, in the worker, the first time).
    A PDF that cannot be made does not hold the receipt back: it is logged, the receipt goes without.
    RECEIPTS_ATTACH_PDF off: no attachment (the PDF stays at its API route and in the admin)."""
    if not settings.RECEIPTS_ATTACH_PDF:
        return ()
    try:
        document = invoice_document_render(invoice=invoice)
    except Exception:
        logger.exception("The PDF of invoice %s could not be made; its receipt goes without it", invoice.id)
        return ()
    return ((f"{invoice.number}.pdf", document.content, "application/pdf"),)


def _money(amount, currency) -> str:
    return f"{format_amount(amount, currency)} {currency}"


def pay_link(invoice) -> str:
    """A link that pays this one invoice, for PAY_LINK_TTL_HOURS; dead once it is paid or voided."""
    token = signing.dumps({"invoice": invoice.id}, salt=PAY_LINK_SALT)
    return settings.SITE_URL + reverse("pay-now", args=[token])


def invoice_id_from_pay_token(token: str) -> str | None:
    try:
        data = signing.loads(token, salt=PAY_LINK_SALT, max_age=settings.PAY_LINK_TTL_HOURS * 3600)
    except signing.BadSignature:  # forged, altered or expired
        return None
    return data.get("invoice") if isinstance(data, dict) else None


def trial_will_end(subscription) -> None:
    _send(
        template="trial_will_end",
        customer=subscription.customer,
        subject=f"Your {subscription.plan.name} trial ends soon",
        context={
            "subscription": subscription,
            "price": _money(subscription.price.amount.amount, subscription.currency),
        },
    )


def payment_failed(*, subscription, invoice) -> None:
    _send(
        template="payment_failed",
        customer=subscription.customer,
        subject=f"We could not renew your {subscription.plan.name} subscription",
        context={
            "subscription": subscription,
            "total": _money(invoice.total.amount, invoice.currency),
            "pay_link": pay_link(invoice),
        },
    )


def action_required(*, subscription, invoice) -> None:
    _send(
        template="action_required",
        customer=subscription.customer,
        subject=f"Your bank asks you to confirm your {subscription.plan.name} renewal",
        context={
            "subscription": subscription,
            "total": _money(invoice.total.amount, invoice.currency),
            "pay_link": pay_link(invoice),
        },
    )


def subscription_canceled(subscription) -> None:
    _send(
        template="subscription_canceled",
        customer=subscription.customer,
        subject=f"Your {subscription.plan.name} subscription has ended",
        context={"subscription": subscription},
    )


def renewal_reminder(subscription) -> None:
    _send(
        template="renewal_reminder",
        customer=subscription.customer,
        subject=f"Your {subscription.plan.name} subscription renews soon",
        context={
            "subscription": subscription,
            "price": _money(subscription.price.amount.amount, subscription.currency),
        },
    )


def price_change_notice(subscription, new_price) -> None:
    _send(
        template="price_change",
        customer=subscription.customer,
        subject=f"A new price for your {subscription.plan.name} subscription",
        context={
            "subscription": subscription,
            "old_price": _money(subscription.price.amount.amount, subscription.currency),
            "new_price": _money(new_price.amount.amount, subscription.currency),
        },
    )


def _deliver_receipt(email: OutgoingEmail) -> None:
    link = SubscriptionInvoice.objects.select_related("subscription__plan").get(invoice_id=email.invoice_id)
    invoice, subscription = email.invoice, link.subscription
    context = {
        "site_url": settings.SITE_URL,
        "invoice": invoice,
        "subscription": subscription,
        "total": _money(invoice.total.amount, invoice.currency),
    }
    deliver_email(
        f"Receipt {invoice.number} — {subscription.plan.name}",
        render_to_string("emails/receipt.txt", context),
        render_to_string("emails/receipt.html", context),
        email.customer.email,
        attachments=_invoice_pdf(invoice),
        message_id=_message_id(email),
    )


def deliver_receipts(invoice_ids: list[str]) -> None:
    """Receipt tasks queued before the outbox existed: their receipts go through it."""
    receipts(invoice_ids=invoice_ids)
