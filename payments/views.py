"""Endpoints that gateways call (not part of the public API)."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations.kernel.errors import NotFound
from payments.gateways.base import WebhookRejected
from payments.services import gateway_webhook_receive


@csrf_exempt
@require_POST
def gateway_webhook(request, gateway_account_id: str):
    """A gateway's signed notification. Bad signature -> 400 and nothing stored; a handler that
    fails answers 500 (after rolling back) so the gateway delivers the event again."""
    try:
        outcome = gateway_webhook_receive(
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
    return JsonResponse({"received": True, "outcome": outcome})
