"""`Idempotency-Key` for every API POST: the first response is stored and replayed byte for byte.

Same credential + key + same method, path and body within 24 h -> the stored response;
another body -> 422 `idempotency_key_reused`; the first still running -> 409
`idempotency_key_in_progress`. A 5xx or 429 is not stored, so the client may retry it.

A request whose process dies (killed, out of memory) leaves its key in flight. On a view that can
resume (`idempotency_resumable = True`: checkout, code generation) a retry past the key's lease
(IDEMPOTENCY_LEASE_SECONDS) takes it over and runs again: its service records what it made with
`idempotency_resource_record`, in the transaction that made it, and the retry reads it with
`idempotency_resumed_resource` and resumes that work instead of doing it twice. On any other view
the dead run may have committed its work without its answer, so running it again could do it twice
(a second refund): its key keeps answering 409 for the replay window.
"""

import contextvars
import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone

from integrations.kernel.api.authentication import bearer_from_header, credential_hash, resolve_credential_once
from integrations.kernel.api.errors import error_json_response
from integrations.kernel.encryption import opened, sealed
from integrations.kernel.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def idempotency_cutoff():
    return timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


def idempotency_keys_purge() -> int:
    """Delete keys older than the replay window; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=idempotency_cutoff()).delete()
    return deleted


# (the claimed row's pk, the resource an earlier run of this request recorded) while a view runs
_scope: contextvars.ContextVar[tuple[int, str] | None] = contextvars.ContextVar("idempotency_scope", default=None)


def idempotency_resource_record(resource_id: str) -> None:
    """Note, in the caller's transaction, what this request made; a retry after its death resumes it.
    Outside an Idempotency-Key (a command, a task, a POST without the header): nothing to note."""
    scope = _scope.get()
    if scope is not None:
        IdempotencyKey.objects.filter(pk=scope[0]).update(resource=resource_id)


def idempotency_resumed_resource() -> str:
    """What an earlier, dead run of this very request made ('' if none: start afresh)."""
    scope = _scope.get()
    return scope[1] if scope is not None else ""


def _lease_end():
    return timezone.now() + timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)


def _resumable(request) -> bool:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return getattr(getattr(match.func, "view_class", match.func), "idempotency_resumable", False)


def _claim(*, credential: str, key: str, request_hash: str, resumable: bool) -> IdempotencyKey | None:
    """Our own row for this key, or None when another request holds it (alive, or already answered)."""
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                credential=credential, key=key, request_hash=request_hash, leased_until=_lease_end()
            )
    except IntegrityError:
        # A key past its window that the purge has not reached yet is free again.
        stale = IdempotencyKey.objects.filter(credential=credential, key=key, created_at__lt=idempotency_cutoff())
        if stale.delete()[0]:
            return _claim(credential=credential, key=key, request_hash=request_hash, resumable=resumable)
        return _take_over(credential=credential, key=key, request_hash=request_hash) if resumable else None


def _take_over(*, credential: str, key: str, request_hash: str) -> IdempotencyKey | None:
    """The same request left in flight by a process that died (its lease ran out): ours now, by one
    conditional UPDATE, so of several retries at once exactly one runs."""
    now = timezone.now()
    lease = timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)
    dead = Q(leased_until__lt=now) | Q(leased_until__isnull=True, created_at__lt=now - lease)
    rows = IdempotencyKey.objects.filter(
        dead, credential=credential, key=key, request_hash=request_hash, state=IdempotencyKey.State.IN_FLIGHT
    )
    if not rows.update(leased_until=now + lease):
        return None
    return IdempotencyKey.objects.get(credential=credential, key=key)


def _release(record: IdempotencyKey) -> None:
    """Not stored, so the client may retry: the key is freed. If the request had made something that
    a retry must resume rather than make again (a recorded resource), the key stays with it, free to
    take over at once."""
    if not IdempotencyKey.objects.filter(pk=record.pk, resource="").delete()[0]:
        IdempotencyKey.objects.filter(pk=record.pk).update(leased_until=timezone.now())


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get(HEADER)
        if request.method != "POST" or key is None or not request.path.startswith("/api/"):
            return self.get_response(request)
        # Printable ASCII only: a NUL (or other control character) cannot be stored as text.
        if not key.strip() or len(key) > MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
            return error_json_response(
                400,
                "idempotency_key_invalid",
                f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
                HEADER,
            )
        raw = bearer_from_header(request.META.get("HTTP_AUTHORIZATION"))
        if raw is None or resolve_credential_once(request, raw) is None:
            return self.get_response(request)  # the view answers 401; nothing is stored

        credential = credential_hash(raw)
        digest = hashlib.sha256()
        for part in (request.method.encode(), request.get_full_path().encode(), request.body):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        request_hash = digest.hexdigest()

        record = _claim(credential=credential, key=key, request_hash=request_hash, resumable=_resumable(request))
        if record is None:
            return self._answer_existing(credential=credential, key=key, request_hash=request_hash)

        scope = _scope.set((record.pk, record.resource))
        try:
            response = self.get_response(request)
        except BaseException:
            _release(record)
            raise
        finally:
            _scope.reset(scope)
        if response.status_code >= 500 or response.status_code == 429 or response.streaming:
            _release(record)
            return response
        IdempotencyKey.objects.filter(pk=record.pk).update(
            state=IdempotencyKey.State.DONE,
            status_code=response.status_code,
            content_type=response.get("Content-Type", ""),
            body=sealed(response.content),  # a token mint's answer carries the raw token,
        )
        return response

    def _answer_existing(self, *, credential: str, key: str, request_hash: str):
        existing = IdempotencyKey.objects.filter(credential=credential, key=key).first()
        if existing is None or existing.state == IdempotencyKey.State.IN_FLIGHT:
            if existing is not None and existing.request_hash != request_hash:
                return self._reused()
            return error_json_response(
                409, "idempotency_key_in_progress", "A request with this Idempotency-Key is still in progress.", HEADER
            )
        if existing.request_hash != request_hash:
            return self._reused()
        response = HttpResponse(
            opened(bytes(existing.body)), status=existing.status_code, content_type=existing.content_type
        )
        response["Idempotent-Replayed"] = "true"
        return response

    @staticmethod
    def _reused():
        return error_json_response(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request; use a new key for a new request.",
            HEADER,
        )
