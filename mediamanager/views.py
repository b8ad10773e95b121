from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.kernel import signing


@require_GET
def healthz(request):
    """200 while the database answers; load balancers and `make run` poll it."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@csrf_exempt  # nothing to forge on a GET-only route: any other method answers 405, not CSRF's 403
@require_GET
def jwks(request):
    """The public keys of the tokens this server signs (entitlement tokens), for license and CDN
    servers to verify them offline. Cacheable for 5 minutes: a new key is published 10 before it
    signs (integrations.kernel.signing)."""
    response = JsonResponse(signing.jwks())
    response["Cache-Control"] = "public, max-age=300"
    return response


class ApiRootView(APIView):
    authentication_classes = []
    permission_classes = []

    @extend_schema(exclude=True)
    def get(self, request):
        return Response({"version": "v1", "docs": "/api/docs/", "schema": "/api/schema/"})
