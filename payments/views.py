"""Endpoints that gateways call (not part of the public API)."""

from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.kernel.errors import NotFound
from payments.gateways.base import WebhookRejected
from payments.gateways.returns import return_token_read, url_with_payment
from payments.services import gateway_webhook_receive, payment_authentication_return


@csrf_exempt
@require_POST
def gateway_webhook(request, gateway_account_id: str):
    """A gateway's signed notification. Bad signature -> 400 and nothing stored; a handler that
    fails answers 500 (after rolling back) so the gateway delivers the event again."""
    try:
        outcome, answer = gateway_webhook_receive(
            gateway_account_id=gateway_account_id, body=request.body, headers=dict(request.headers)
        )
    except NotFound:
        return JsonResponse(
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": "No such endpoint.",
                    "param": None,
                }
            },
            status=404,
        )
    except WebhookRejected as error:
        return JsonResponse(
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "signature_invalid",
                    "message": str(error)[:200],
                    "param": None,
                }
            },
            status=400,
        )
    if answer:
        return HttpResponse(answer, content_type="text/plain")
    return JsonResponse({"received": True, "outcome": outcome})


# Reached by a signed token from a gateway's redirect (no session of ours to forge), like a bank's
# page: CSRF tokens add nothing; Adyen may come back with a POST.
@csrf_exempt
def gateway_return(request, token: str):
    """Where a gateway sends the cardholder back after 3-D Secure (Adyen): the payment is finished
    with the gateway, then the cardholder goes on to the app's return URL (with `payment=`)."""
    data = return_token_read(token)
    if data is None:
        return HttpResponse("This link is not valid.", status=404, content_type="text/plain")
    params = {key: request.GET.get(key) or request.POST.get(key) for key in ("redirectResult", "payload")}
    payment = payment_authentication_return(
        gateway_account_id=data["a"], idempotency_key=data["k"], params={k: v for k, v in params.items() if v}
    )
    if data.get("r"):
        return HttpResponseRedirect(url_with_payment(data["r"], payment.id if payment else None))
    status = payment.status if payment else "done"
    return HttpResponse(f"Authentication finished ({status}). You can close this page.", content_type="text/plain")
