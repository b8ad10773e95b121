"""Emails to subscribers (HTML and text, Django's email backend), sent after the transaction
that caused them commits, so a rolled-back change never mails anyone."""

import logging

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django_q.tasks import async_task

from payments.currency import format_amount
from payments.services import invoice_document_render

logger = logging.getLogger("plans.notifications")

PAY_LINK_SALT = "plans.pay-now.invoice"  # links of the first release (per subscription) no longer open


def _send(*, template: str, to: str, subject: str, context: dict) -> None:
    """Render now, hand to the django-q2 worker after commit: billing never waits for SMTP."""
    if not to:  # the customer was erased: no address, no mail
        return
    context = {"site_url": settings.SITE_URL, **context}
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    transaction.on_commit(
        lambda: async_task("plans.notifications.deliver_email", subject, text, html, to, task_name=f"email-{template}")
    )


def deliver_email(subject: str, text: str, html: str, to: str, attachments: tuple = ()) -> None:
    """The django-q2 task that sends one email (retried by the cluster if SMTP fails);
    `attachments`: (file name, bytes, MIME type) each."""
    message = EmailMultiAlternatives(subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
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
        to=subscription.customer.email,
        subject=f"Your {subscription.plan.name} trial ends soon",
        context={
            "subscription": subscription,
            "price": _money(subscription.price.amount.amount, subscription.currency),
        },
    )


def payment_failed(*, subscription, invoice) -> None:
    _send(
        template="payment_failed",
        to=subscription.customer.email,
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
        to=subscription.customer.email,
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
        to=subscription.customer.email,
        subject=f"Your {subscription.plan.name} subscription has ended",
        context={"subscription": subscription},
    )


def renewal_reminder(subscription) -> None:
    _send(
        template="renewal_reminder",
        to=subscription.customer.email,
        subject=f"Your {subscription.plan.name} subscription renews soon",
        context={
            "subscription": subscription,
            "price": _money(subscription.price.amount.amount, subscription.currency),
        },
    )


def price_change_notice(subscription, new_price) -> None:
    _send(
        template="price_change",
        to=subscription.customer.email,
        subject=f"A new price for your {subscription.plan.name} subscription",
        context={
            "subscription": subscription,
            "old_price": _money(subscription.price.amount.amount, subscription.currency),
            "new_price": _money(new_price.amount.amount, subscription.currency),
        },
    )


def receipts(*, invoice_ids: list[str]) -> None:
    """Receipts for many renewals: one django-q2 task renders and sends them all."""
    if invoice_ids:
        transaction.on_commit(
            lambda: async_task("plans.notifications.deliver_receipts", list(invoice_ids), task_name="email-receipts")
        )


def deliver_receipts(invoice_ids: list[str]) -> int:
    from plans.models import SubscriptionInvoice

    links = SubscriptionInvoice.objects.filter(invoice_id__in=invoice_ids).select_related(
        "invoice", "subscription__customer", "subscription__plan"
    )
    for link in links:
        invoice, subscription = link.invoice, link.subscription
        if not subscription.customer.email:  # erased since the renewal
            continue
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
            subscription.customer.email,
            attachments=_invoice_pdf(invoice),
        )
    return len(links)
