"""The sandbox gateway's public pages: card tokenization and the hosted 3-D Secure challenge."""

from django.conf import settings
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from integrations.kernel.api.parsing import validated_data
from payments.gateways.returns import url_with_payment
from payments.gateways.sandbox.gateway import (
    SandboxGateway,
    sandbox_challenge_complete,
    sandbox_enabled,
    sandbox_tokenize,
)
from payments.gateways.sandbox.models import SandboxCharge
from payments.services import payment_sync_by_reference


class _CardSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=32)
    exp_month = serializers.IntegerField()
    exp_year = serializers.IntegerField()
    cvc = serializers.CharField(max_length=4)


class TokenRequestSerializer(serializers.Serializer):
    publishable_key = serializers.CharField(max_length=64)
    card = _CardSerializer()


class TokenizeThrottle(AnonRateThrottle):
    def get_rate(self):
        return settings.SANDBOX_TOKENIZE_RATE


class SandboxTokenView(APIView):
    """Stands in for a card form hosted by a gateway; only mounted while a sandbox gateway is active."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = [TokenizeThrottle]

    @extend_schema(exclude=True)
    def post(self, request):
        if not sandbox_enabled():
            raise Http404
        data = validated_data(TokenRequestSerializer, request)
        card = data["card"]
        token = sandbox_tokenize(
            publishable_key=data["publishable_key"],
            number=card["number"],
            exp_month=card["exp_month"],
            exp_year=card["exp_year"],
            cvc=card["cvc"],
        )
        card = {"brand": token.brand, "last4": token.last4, "country": token.country or None}
        return Response({"token": token.token, "card": card}, status=201)


# The challenge is reached by an unguessable charge id from a redirect, like a bank's ACS page;
# there is no session of ours to forge, so CSRF tokens add nothing here.
@csrf_exempt
def challenge(request, charge_id: str):
    charge = SandboxCharge.objects.select_related("card").filter(pk=charge_id).first()
    if charge is None or not SandboxGateway.enabled():
        raise Http404
    if request.method == "POST":
        action = request.POST.get("action")
        if action not in ("approve", "fail"):
            return render(
                request, "sandbox/challenge.html", {"charge": charge, "error": "Choose approve or fail."}, status=400
            )
        charge = sandbox_challenge_complete(charge_id=charge.id, approve=action == "approve")
        payment = payment_sync_by_reference(reference=charge.id)
        if charge.return_url:
            return HttpResponseRedirect(url_with_payment(charge.return_url, payment.id if payment else None))
        return render(request, "sandbox/challenge_done.html", {"charge": charge})
    if charge.status != SandboxCharge.Status.REQUIRES_ACTION:
        return render(request, "sandbox/challenge_done.html", {"charge": charge})
    return render(request, "sandbox/challenge.html", {"charge": charge})
