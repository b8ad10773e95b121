"""The hosted pay-now page a subscriber reaches from a dunning email: it pays one invoice."""

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_protect

from integrations.kernel.api.addresses import client_address
from integrations.kernel.errors import DomainError, RateLimited
from payments.models import Invoice, Payment
from payments.services import payment_sync
from plans.models import SubscriptionInvoice
from plans.notifications import invoice_id_from_pay_token
from plans.services import subscription_pay_now


@csrf_protect
def pay_now(request, token: str):
    invoice_id = invoice_id_from_pay_token(token)
    link = (
        SubscriptionInvoice.objects.filter(invoice_id=invoice_id, purpose=SubscriptionInvoice.Purpose.RENEWAL)
        .select_related("invoice", "subscription__plan")
        .first()
        if invoice_id
        else None
    )
    if link is None:
        return render(request, "plans/pay_now.html", {"expired": True}, status=404)
    subscription, invoice = link.subscription, link.invoice
    context = {"subscription": subscription, "invoice": invoice, "error": None}
    if request.method == "POST" and invoice.status == Invoice.Status.OPEN:
        return_url = request.build_absolute_uri(reverse("pay-now", args=[token]))
        try:
            payment = subscription_pay_now(
                invoice_id=invoice.id, return_url=return_url, address=client_address(request)
            )
        except RateLimited as error:
            context["error"] = error.message
            response = render(request, "plans/pay_now.html", context, status=429)
            response["Retry-After"] = str(error.retry_after)
            return response
        except DomainError as error:
            context["error"] = error.message
        else:
            if payment.status == Payment.Status.REQUIRES_ACTION and payment.next_action_url:
                return HttpResponseRedirect(payment.next_action_url)
            if payment.status == Payment.Status.FAILED:
                context["error"] = payment.failure_message or "The payment failed."
    elif request.GET.get("payment"):
        payment = Payment.objects.filter(pk=request.GET["payment"], invoice=invoice).first()
        if payment is not None:
            payment_sync(payment=payment)
    subscription.refresh_from_db()
    invoice.refresh_from_db()
    return render(request, "plans/pay_now.html", context)
