"""The audit log's writer and its context: who acts (a staff user, an API key, the system), from which
address and user agent, set once by the request middleware, the API-key authentication, the
commands and the worker, so that services record without being passed a user.

`audit_record` is the one writer. The generic hook (`audit_track`) records creates, changes and
deletes of the models each app registers, while an actor is set and the hook is not suppressed
(bulk services write one summary entry instead: `audit_suppressed`). With no actor nothing is
recorded and no query is made: a customer's checkout or a renewal pays nothing for it."""

import contextlib
import copy
import datetime as dt
import enum
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from ipaddress import ip_address

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_init, post_save, pre_save
from django.utils import timezone
from moneyed import Money

from integrations.kernel.api.addresses import client_address
from integrations.kernel.encryption import EncryptedJSONField
from integrations.kernel.models import ApiKey, AuditEvent
from integrations.kernel.representation import datetime_repr

MIN_RETENTION_DAYS = 365  # PCI DSS 10.5.1: at least a year; the database refuses earlier deletes
REDACTED = "[redacted]"


# --- Who acts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    type: str  # AuditEvent.ActorType: user | api_key | system
    id: str = ""
    name: str = ""


def actor_system(name: str = "system") -> Actor:
    return Actor(AuditEvent.ActorType.SYSTEM, "", name[:150])


def actor_of(value) -> Actor | None:
    """An Actor for what is given: an Actor, a user, an API key, or "system"."""
    if value is None or isinstance(value, Actor):
        return value
    if isinstance(value, ApiKey):
        return Actor(AuditEvent.ActorType.API_KEY, str(value.pk), value.name[:150])
    if value == "system":
        return actor_system()
    if hasattr(value, "get_username"):
        return Actor(AuditEvent.ActorType.USER, str(value.pk), value.get_username()[:150])
    raise TypeError(f"Not an actor: {type(value).__name__}")


@dataclass
class _Scope:
    actor: Actor | None
    ip: str
    user_agent: str
    suppressed: int = 0


_scope: ContextVar[_Scope | None] = ContextVar("audit_scope", default=None)


def _clean_ip(value: str) -> str:
    try:
        return str(ip_address((value or "").strip()))
    except ValueError:
        return ""


@contextlib.contextmanager
def audit_context(*, actor=None, ip: str = "", user_agent: str = "") -> Iterator[_Scope]:
    """Everything inside is done by `actor` (a user, an API key, an Actor, "system" or None: nobody
    to record), from `ip` with `user_agent`."""
    token = _scope.set(_Scope(actor=actor_of(actor), ip=_clean_ip(ip), user_agent=(user_agent or "")[:300]))
    try:
        yield _scope.get()
    finally:
        _scope.reset(token)


def audit_actor() -> Actor | None:
    """Who acts now, or None (a customer, a gateway's webhook, no context)."""
    scope = _scope.get()
    return scope.actor if scope is not None else None


def audit_actor_set(actor) -> bool:
    """The current context's actor, once known (the API key is authenticated inside the request);
    False when there is no context to set it in."""
    scope = _scope.get()
    if scope is None:
        return False
    scope.actor = actor_of(actor)
    return True


@contextlib.contextmanager
def audit_suppressed() -> Iterator[None]:
    """The generic hook is off inside (bulk services write their own summary); audit_record still writes."""
    scope = _scope.get()
    if scope is None:
        yield
        return
    scope.suppressed += 1
    try:
        yield
    finally:
        scope.suppressed -= 1


def _hook_actor() -> Actor | None:
    scope = _scope.get()
    if scope is None or scope.actor is None or scope.suppressed:
        return None
    return scope.actor


# --- What may be written -------------------------------------------------------------------------

_SECRET_WORDS = {
    "key",
    "token",
    "secret",
    "password",
    "passcode",
    "hash",
    "credential",
    "credentials",
    "cvc",
    "cvv",
    "pan",
    "pin",
    "otp",
    "fingerprint",
    "signature",
}
_CARD_NUMBER = re.compile(r"(?<![0-9])(?:[0-9][ -]?){12,18}[0-9](?![0-9])")
_SECRET_PREFIXES = ("mmk_", "mmc_", "whsec_", "sk_live_", "sk_test_", "rk_live_", "rk_test_", "pbkdf2_", "argon2")
_MAX_TEXT = 1000


def is_secret_name(name: str) -> bool:
    lowered = str(name).lower()
    return lowered.endswith("hash") or any(word in _SECRET_WORDS for word in re.split(r"[^a-z0-9]+", lowered))


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _text(value: str) -> str:
    if value.startswith(_SECRET_PREFIXES):
        return REDACTED

    def card(match):
        digits = re.sub(r"[ -]", "", match.group(0))
        return REDACTED if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)

    return _CARD_NUMBER.sub(card, value)[:_MAX_TEXT]


def json_safe(value):
    """A value as the audit log may keep it: JSON types only, Money as {amount, currency}, secrets
    (by key name, by prefix, card numbers) replaced by "[redacted]"."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Money):
        return {"amount": str(value.amount), "currency": value.currency.code}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return datetime_repr(value) if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value.total_seconds())
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k)[:100]: REDACTED if is_secret_name(k) else json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return REDACTED
    if isinstance(value, models.Model):
        return str(value.pk)
    return _text(str(value))


def audit_changes_scrub(changes: dict | None) -> dict:
    """`{field: [before, after]}` safe to keep: a secret field keeps only that it changed."""
    scrubbed = {}
    for field, pair in (changes or {}).items():
        before, after = pair if isinstance(pair, list | tuple) and len(pair) == 2 else (None, pair)
        if is_secret_name(field):
            before = None if before in (None, "", {}) else REDACTED
            after = None if after in (None, "", {}) else REDACTED
        else:
            before, after = json_safe(before), json_safe(after)
        scrubbed[str(field)[:100]] = [before, after]
    return scrubbed


# --- The writer ----------------------------------------------------------------------------------


def audit_record(
    *,
    action: str,
    object_type: str,
    object_id: str,
    changes: dict | None = None,
    outcome: str = "succeeded",
    actor=None,
) -> AuditEvent | None:
    """Record one entry, in the caller's transaction (it exists exactly when the change does), by
    `actor` or else the context's. With no actor at all (a customer's request), nothing is
    recorded and None is returned."""
    who = actor_of(actor) or audit_actor()
    if who is None:
        return None
    if outcome not in AuditEvent.Outcome.values:
        raise ValueError(f"outcome is one of {', '.join(AuditEvent.Outcome.values)}")
    scope = _scope.get()
    return AuditEvent.objects.create(
        actor_type=who.type,
        actor_id=who.id[:64],
        actor_name=who.name[:150],
        action=action[:100],
        object_type=object_type[:50],
        object_id=str(object_id or "")[:64],
        changes=audit_changes_scrub(changes),
        ip=scope.ip if scope else "",
        user_agent=scope.user_agent if scope else "",
        outcome=outcome,
    )


def audit_event_repr(event: AuditEvent) -> dict:
    """The API's audit event object (API.md "Audit")."""
    return {
        "id": event.id,
        "at": datetime_repr(event.at),
        "actor": {"type": event.actor_type, "id": event.actor_id or None, "name": event.actor_name},
        "action": event.action,
        "object": {"type": event.object_type, "id": event.object_id or None},
        "changes": event.changes,
        "ip": event.ip or None,
        "user_agent": event.user_agent,
        "outcome": event.outcome,
    }


def audit_retention_days() -> int:
    days = settings.AUDIT_RETENTION_DAYS
    if days < MIN_RETENTION_DAYS:
        raise ImproperlyConfigured(f"AUDIT_RETENTION_DAYS is {days}: audit events are kept at least 365 days.")
    return days


def audit_events_purge() -> int:
    """Delete the entries older than AUDIT_RETENTION_DAYS (never under 365); returns how many."""
    cutoff = timezone.now() - dt.timedelta(days=audit_retention_days())
    deleted, _ = AuditEvent.objects.filter(at__lt=cutoff).delete()
    return deleted


@checks.register()
def check_audit_retention(app_configs=None, **kwargs):
    if settings.AUDIT_RETENTION_DAYS < MIN_RETENTION_DAYS:
        return [
            checks.Error(
                f"AUDIT_RETENTION_DAYS is {settings.AUDIT_RETENTION_DAYS}; it must be at least 365.",
                id="integrations.E010",
            )
        ]
    return []


# --- The generic hook: the registered models' creates, changes and deletes ----------------------

_BEFORE = "_audit_before"


@dataclass(frozen=True)
class _Tracked:
    object_type: str
    fields: tuple  # concrete fields compared and recorded
    personal: frozenset = frozenset()  # recorded as changed, never their values (erasure must not leave them here)


def _personal_hidden(spec: _Tracked, changes: dict) -> dict:
    return {
        name: [None if _empty(v) else REDACTED for v in pair] if name in spec.personal else pair
        for name, pair in changes.items()
    }


_tracked: dict[type, _Tracked] = {}
_tracked_m2m: dict[type, tuple[type, str]] = {}  # through model -> (model, field name)


def _object_type_of(model) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).lower()


def _recorded_fields(model, exclude) -> tuple:
    from djmoney.models.fields import CurrencyField

    fields = []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.name in exclude:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            continue  # when it changed is the entry's own time
        if isinstance(field, CurrencyField) and getattr(field, "price_field", None) is not None:
            continue  # a Money field's currency: the Money value carries it
        fields.append(field)
    return tuple(fields)


def _values(instance, spec: _Tracked) -> dict:
    data = instance.__dict__
    values = {}
    for field in spec.fields:
        if field.attname not in data:
            continue  # deferred: reading it would cost a query
        value = data[field.attname] if field.is_relation else getattr(instance, field.attname)
        if isinstance(field, EncryptedJSONField) or isinstance(value, dict | list):
            value = copy.deepcopy(value)
        values[field.name] = value
    return values


def _remember(sender, instance, **kwargs):
    if _hook_actor() is None:
        return
    instance.__dict__[_BEFORE] = _values(instance, _tracked[sender])


def _before_save(sender, instance, raw=False, **kwargs):
    # Loaded before an actor was set (rare): read the row as it is now, before it is written.
    if raw or instance._state.adding or _BEFORE in instance.__dict__ or _hook_actor() is None:
        return
    stored = sender._base_manager.filter(pk=instance.pk).first()
    instance.__dict__[_BEFORE] = stored.__dict__.get(_BEFORE, {}) if stored is not None else {}


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _saved(sender, instance, created=False, raw=False, update_fields=None, **kwargs):
    if raw or _hook_actor() is None:
        return
    spec = _tracked[sender]
    after = _values(instance, spec)
    if created:
        changes = {name: [None, value] for name, value in after.items() if not _empty(value)}
        action = f"{spec.object_type}.created"
        instance.__dict__[_BEFORE] = after
    else:
        before = instance.__dict__.get(_BEFORE, {})
        if update_fields is not None:
            names = {sender._meta.get_field(name).name for name in update_fields}
            after = {name: value for name, value in after.items() if name in names}
        changes = {
            name: [before.get(name), value]
            for name, value in after.items()
            if name not in before or before[name] != value
        }
        instance.__dict__[_BEFORE] = {**before, **after}
        if not changes:
            return
        action = f"{spec.object_type}.updated"
    audit_record(
        action=action, object_type=spec.object_type, object_id=str(instance.pk), changes=_personal_hidden(spec, changes)
    )


def _deleted(sender, instance, **kwargs):
    if _hook_actor() is None:
        return
    spec = _tracked[sender]
    values = instance.__dict__.get(_BEFORE) or _values(instance, spec)
    changes = {name: [value, None] for name, value in values.items() if not _empty(value)}
    audit_record(
        action=f"{spec.object_type}.deleted",
        object_type=spec.object_type,
        object_id=str(instance.pk),
        changes=_personal_hidden(spec, changes),
    )


def _m2m_names(instance, field_name: str) -> list[str]:
    return sorted(str(obj) for obj in getattr(instance, field_name).all())


def _m2m(sender, instance, action, reverse, **kwargs):
    if reverse or _hook_actor() is None:
        return  # recorded from the side that registered it
    model, field_name = _tracked_m2m[sender]
    if not isinstance(instance, model):
        return
    if action.startswith("pre_"):
        instance.__dict__[f"_audit_m2m_{field_name}"] = _m2m_names(instance, field_name)
        return
    before = instance.__dict__.pop(f"_audit_m2m_{field_name}", None)
    after = _m2m_names(instance, field_name)
    if before == after:
        return
    spec = _tracked[model]
    audit_record(
        action=f"{spec.object_type}.updated",
        object_type=spec.object_type,
        object_id=str(instance.pk),
        changes={field_name: [before, after]},
    )


def audit_track(
    model, *, object_type: str | None = None, exclude=(), personal=(), deletes: bool = True, m2m=()
) -> None:
    """Record `model`'s creates, changes (field by field, before and after) and deletes while an
    actor is set. Called by each app for its own operator-facing models, in AppConfig.ready().
    `personal`: fields of a subscriber's personal data, recorded as changed without their values.
    `deletes=False` for tables purged in bulk (a delete receiver makes Django load every row);
    `m2m`: many-to-many fields whose changes are recorded too (a user's groups)."""
    _tracked[model] = _Tracked(
        object_type or _object_type_of(model), _recorded_fields(model, set(exclude)), frozenset(personal)
    )
    uid = f"audit:{model._meta.label}"
    post_init.connect(_remember, sender=model, dispatch_uid=uid, weak=False)
    pre_save.connect(_before_save, sender=model, dispatch_uid=uid, weak=False)
    post_save.connect(_saved, sender=model, dispatch_uid=uid, weak=False)
    if deletes:
        post_delete.connect(_deleted, sender=model, dispatch_uid=uid, weak=False)
    for name in m2m:
        through = model._meta.get_field(name).remote_field.through
        _tracked_m2m[through] = (model, name)
        m2m_changed.connect(_m2m, sender=through, dispatch_uid=f"{uid}.{name}", weak=False)


def audit_object_type(model) -> str:
    """How entries name a model's rows (the tracked name, else its class name in snake case)."""
    spec = _tracked.get(model)
    return spec.object_type if spec else _object_type_of(model)


# --- Where the actor comes from: requests, commands, the worker, sign-ins ------------------------


class AuditMiddleware:
    """Every request runs in an audit context with its client address (client_address: as the
    throttles see it, following TRUSTED_PROXY_COUNT) and user agent; outside the API, a signed-in
    staff user is the actor (the admin). API requests get theirs from the API-key authentication;
    a customer's token sets none."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        actor = None
        if not request.path.startswith("/api/"):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated and user.is_staff:
                actor = actor_of(user)
        with audit_context(actor=actor, ip=client_address(request), user_agent=request.headers.get("User-Agent", "")):
            return self.get_response(request)


_worker_tokens: dict[int, object] = {}


def _worker_task_starts(sender, func=None, task=None, **kwargs):
    """django-q2: each task the worker runs (scheduled or queued) acts as `system`."""
    name = f"worker {task.get('func')}" if isinstance(task, dict) and isinstance(task.get("func"), str) else "worker"
    _worker_tokens[id(task)] = _scope.set(_Scope(actor=actor_system(name), ip="", user_agent="django-q2"))


def _worker_task_ends(sender, func=None, task=None, **kwargs):
    token = _worker_tokens.pop(id(task), None)
    if token is not None:
        _scope.reset(token)


def _request_meta(request) -> tuple[str, str]:
    if request is None:
        return "", ""
    return client_address(request), request.META.get("HTTP_USER_AGENT", "")


def _signed_in(sender, request=None, user=None, **kwargs):
    ip, agent = _request_meta(request)
    with audit_context(actor=user, ip=ip, user_agent=agent):
        audit_record(action="staff.signed_in", object_type="user", object_id=str(user.pk))


def _signed_out(sender, request=None, user=None, **kwargs):
    if user is None:
        return
    ip, agent = _request_meta(request)
    with audit_context(actor=user, ip=ip, user_agent=agent):
        audit_record(action="staff.signed_out", object_type="user", object_id=str(user.pk))


def _attempted(username) -> Actor:
    from django.contrib.auth import get_user_model

    name = str(username or "")[:150]
    model = get_user_model()
    user = model._default_manager.filter(**{model.USERNAME_FIELD: name}).first() if name else None
    return Actor(AuditEvent.ActorType.USER, str(user.pk) if user else "", name)


def _sign_in_failed(sender, credentials=None, request=None, **kwargs):
    # Only the username: Django masks the password in `credentials`, and we never keep it anyway.
    from django.contrib.auth import get_user_model

    username = (credentials or {}).get(get_user_model().USERNAME_FIELD)
    actor = _attempted(username)
    ip, agent = _request_meta(request)
    with audit_context(actor=actor, ip=ip, user_agent=agent):
        audit_record(action="staff.sign_in_failed", object_type="user", object_id=actor.id, outcome="refused")


def _locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    actor = _attempted(username)
    ip, agent = _request_meta(request)
    with audit_context(actor=actor, ip=ip or ip_address or "", user_agent=agent):
        audit_record(action="staff.locked_out", object_type="user", object_id=actor.id, outcome="refused")


def audit_signals_connect() -> None:
    """Sign-ins (Django's and django-axes' signals) and the worker's tasks; from IntegrationsConfig.ready()."""
    from axes.signals import user_locked_out
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
    from django_q.signals import post_execute_in_worker, pre_execute

    user_logged_in.connect(_signed_in, dispatch_uid="audit:signed_in")
    user_logged_out.connect(_signed_out, dispatch_uid="audit:signed_out")
    user_login_failed.connect(_sign_in_failed, dispatch_uid="audit:sign_in_failed")
    user_locked_out.connect(_locked_out, dispatch_uid="audit:locked_out")
    pre_execute.connect(_worker_task_starts, dispatch_uid="audit:worker_starts")
    post_execute_in_worker.connect(_worker_task_ends, dispatch_uid="audit:worker_ends")
