"""The hosted pay-now page a subscriber reaches from a dunning email."""

from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_protect

from integrations.kernel.errors import DomainError
from payments.models import Payment
from payments.services import payment_sync
from plans.notifications import subscription_from_pay_token
from plans.selectors import subscription_open_invoice
from plans.services import subscription_pay_now


@csrf_protect
def pay_now(request, token: str):
    subscription = subscription_from_pay_token(token)
    if subscription is None:
        raise Http404
    invoice = subscription_open_invoice(subscription)
    context = {"subscription": subscription, "invoice": invoice, "error": None}
    if request.method == "POST" and invoice is not None:
        return_url = request.build_absolute_uri(reverse("pay-now", args=[token]))
        try:
            payment = subscription_pay_now(subscription=subscription, return_url=return_url)
        except DomainError as error:
            context["error"] = error.message
        else:
            if payment.status == Payment.Status.REQUIRES_ACTION and payment.next_action_url:
                return HttpResponseRedirect(payment.next_action_url)
            if payment.status == Payment.Status.FAILED:
                context["error"] = payment.failure_message or "The payment failed."
            subscription.refresh_from_db()
            invoice.refresh_from_db()
    elif request.GET.get("payment"):
        payment = Payment.objects.filter(pk=request.GET["payment"], invoice=invoice).first() if invoice else None
        if payment is not None:
            payment_sync(payment=payment)
            invoice.refresh_from_db()
            subscription.refresh_from_db()
    return render(request, "plans/pay_now.html", context)
