"""The plan catalogue: plans with their terms, prices kept as history (a change adds a row), archive."""

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from moneyed import Money

from integrations.kernel import clock
from integrations.kernel.audit import audit_record
from integrations.kernel.bounds import column_int, date_bounded
from integrations.kernel.errors import Conflict, InvalidRequest, Unprocessable
from integrations.services import event_emit
from payments.currency import normalize_currency, parse_amount
from plans.models import Plan, PlanPrice
from plans.periods import add_interval
from plans.representations import plan_repr
from plans.selectors import plan_is_referenced

_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# Terms that define what a subscriber bought; frozen once anything references the plan.
STRUCTURAL_FIELDS = (
    "kind",
    "interval",
    "interval_count",
    "billing_cycles",
    "access_days",
    "tax_behavior",
    "tax_category",
)
EDITABLE_FIELDS = ("code", "name", "description", "trial", "prices", *STRUCTURAL_FIELDS)


@dataclass(frozen=True)
class Trial:
    length: int
    unit: str
    requires_payment_method: bool = True


def _positive_int(value, *, field: str, param: str | None = None, allow_none: bool = False) -> int | None:
    """At least 1 and what the plan's column holds (interval_count is a smallint)."""
    return column_int(value, model=Plan, field=field, param=param, minimum=1, allow_none=allow_none)


def _dates_within_calendar(columns: dict) -> None:
    """A plan whose first period (after its trial) or pass would end past the year 9999, counted from
    now, is refused here: later it could only fail where a date is computed (checkout, renewal)."""
    now = clock.now()
    if columns["kind"] == Plan.Kind.ONE_OFF:
        date_bounded(lambda: now + timedelta(days=columns["access_days"]), param="access_days")
        return
    start = now
    if columns["trial_length"] is not None:
        start = date_bounded(
            lambda: add_interval(now, unit=columns["trial_unit"], count=columns["trial_length"]), param="trial.length"
        )
    date_bounded(
        lambda: add_interval(start, unit=columns["interval"], count=columns["interval_count"]), param="interval_count"
    )


def plan_prices_parse(prices) -> list[Money]:
    """Exact, enabled, one-per-currency prices from API or admin input ({amount, currency} or Money)."""
    if not isinstance(prices, list | tuple) or not prices:
        raise InvalidRequest("A plan needs at least one price.", code="parameter_missing", param="prices")
    parsed: list[Money] = []
    seen: set[str] = set()
    for index, price in enumerate(prices):
        param = f"prices[{index}]"
        if isinstance(price, Money):
            amount, currency = price.amount, price.currency.code
        elif isinstance(price, dict):
            amount, currency = price.get("amount"), price.get("currency")
        else:
            raise InvalidRequest("A price is {amount, currency}.", code="parameter_invalid", param=param)
        try:
            currency = normalize_currency(currency)
        except InvalidRequest as error:
            error.param = f"{param}.currency"
            raise
        if isinstance(amount, Decimal):  # from the admin's form
            amount = f"{amount:f}"
        try:  # parse_amount refuses floats: a price must be exact
            amount = parse_amount(amount, currency)
        except InvalidRequest as error:
            error.param = f"{param}.amount"
            raise
        if currency in seen:
            raise InvalidRequest(f"Two prices in {currency}.", code="duplicate_currency", param=f"{param}.currency")
        seen.add(currency)
        parsed.append(Money(amount, currency))
    return parsed


def plan_terms_validate(terms: dict) -> dict:
    """The plan's columns from its terms, or InvalidRequest naming the field at fault."""
    kind = terms.get("kind")
    if kind not in Plan.Kind.values:
        raise InvalidRequest("kind is 'recurring' or 'one_off'.", code="parameter_invalid", param="kind")
    code = terms.get("code")
    if not isinstance(code, str) or not _CODE_RE.match(code):
        raise InvalidRequest(
            "code is 1-64 lower-case letters, digits, '-' or '_'.", code="parameter_invalid", param="code"
        )
    name = terms.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InvalidRequest("name is required (200 characters at most).", code="parameter_missing", param="name")
    tax_behavior = terms.get("tax_behavior") or Plan.TaxBehavior.INCLUSIVE
    if tax_behavior not in Plan.TaxBehavior.values:
        raise InvalidRequest(
            "tax_behavior is 'inclusive' or 'exclusive'.", code="parameter_invalid", param="tax_behavior"
        )
    tax_category = terms.get("tax_category") or Plan.TaxCategory.DIGITAL_SERVICES
    if tax_category not in Plan.TaxCategory.values:
        raise InvalidRequest(
            "tax_category is 'digital_services' or 'broadcasting'.", code="parameter_invalid", param="tax_category"
        )
    columns = {
        "code": code,
        "name": name.strip(),
        "tax_behavior": tax_behavior,
        "tax_category": tax_category,
        "description": terms.get("description") or "",
        "kind": kind,
        "interval": "",
        "interval_count": 1,
        "billing_cycles": None,
        "access_days": None,
        "trial_length": None,
        "trial_unit": "",
        "trial_requires_payment_method": True,
    }
    trial = terms.get("trial")
    if kind == Plan.Kind.RECURRING:
        if terms.get("interval") not in Plan.Interval.values:
            raise InvalidRequest(
                "A recurring plan needs interval: day, week, month or year.", code="parameter_invalid", param="interval"
            )
        if terms.get("access_days") is not None:
            raise InvalidRequest(
                "access_days is for one-off plans only.", code="parameter_invalid", param="access_days"
            )
        columns["interval"] = terms["interval"]
        count = terms.get("interval_count")
        columns["interval_count"] = _positive_int(1 if count is None else count, field="interval_count")
        columns["billing_cycles"] = _positive_int(terms.get("billing_cycles"), field="billing_cycles", allow_none=True)
        if trial is not None:
            if not isinstance(trial, Trial):
                raise InvalidRequest(
                    "trial is {length, unit, requires_payment_method}.", code="parameter_invalid", param="trial"
                )
            if trial.unit not in Plan.TrialUnit.values:
                raise InvalidRequest("trial.unit is day, week or month.", code="parameter_invalid", param="trial.unit")
            columns["trial_length"] = _positive_int(trial.length, field="trial_length", param="trial.length")
            columns["trial_unit"] = trial.unit
            columns["trial_requires_payment_method"] = bool(trial.requires_payment_method)
    else:
        for field in ("interval", "billing_cycles", "trial"):
            if terms.get(field) not in (None, ""):
                raise InvalidRequest(f"A one-off plan has no {field}.", code="parameter_invalid", param=field)
        if terms.get("interval_count") not in (None, 1):  # 1: what the first release showed for one-off plans
            raise InvalidRequest(
                "A one-off plan has no interval_count.", code="parameter_invalid", param="interval_count"
            )
        columns["access_days"] = _positive_int(terms.get("access_days"), field="access_days")
    _dates_within_calendar(columns)
    return columns


def _prices_replace(*, plan: Plan, prices: list[Money]) -> bool:
    """Make `prices` the plan's current prices: a changed amount adds a row and retires the old one.
    Returns whether anything changed."""
    now = timezone.now()
    current = {p.currency: p for p in PlanPrice.objects.select_for_update().filter(plan=plan, is_current=True)}
    wanted = {price.currency.code: price for price in prices}
    changed = False
    for currency, row in current.items():
        if currency not in wanted or wanted[currency].amount != row.amount.amount:
            PlanPrice.objects.filter(pk=row.pk).update(is_current=False, retired_at=now)
            changed = True
    new_rows = [
        PlanPrice(plan=plan, amount=price)
        for currency, price in wanted.items()
        if currency not in current or current[currency].amount.amount != price.amount
    ]
    PlanPrice.objects.bulk_create(new_rows)
    if changed or new_rows:  # set-based writes the audit hook cannot see: one entry for the plan's prices
        audit_record(
            action="plan.prices_changed",
            object_type="plan",
            object_id=plan.pk,
            changes={
                "prices": [
                    sorted(str(row.amount) for row in current.values()),
                    sorted(str(price) for price in wanted.values()),
                ]
            },
        )
    return changed or bool(new_rows)


@transaction.atomic
def plan_create(*, prices, trial: Trial | None = None, **terms) -> Plan:
    columns = plan_terms_validate({**terms, "trial": trial})
    parsed_prices = plan_prices_parse(prices)
    if Plan.objects.filter(code=columns["code"]).exists():
        raise Conflict(f"A plan with code '{columns['code']}' exists.", code="plan_exists", param="code")
    try:
        with transaction.atomic():
            plan = Plan.objects.create(**columns)
    except IntegrityError:  # a concurrent create of the same code
        raise Conflict(f"A plan with code '{columns['code']}' exists.", code="plan_exists", param="code") from None
    _prices_replace(plan=plan, prices=parsed_prices)
    event_emit(type="plan.created", payload={"plan": plan_repr(plan)})
    return plan


_UNSET = object()


@transaction.atomic
def plan_update(*, plan: Plan, **changes) -> Plan:
    """Edit a plan. Prices given are the full new set of current prices. Structural terms change only
    while nothing references the plan; archived plans stay archived."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidRequest(
            f"Cannot change {', '.join(sorted(unknown))}.", code="parameter_invalid", param=sorted(unknown)[0]
        )
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    current_trial = (
        Trial(plan.trial_length, plan.trial_unit, plan.trial_requires_payment_method) if plan.has_trial else None
    )
    terms = {field: getattr(plan, field) for field in ("code", "name", "description", *STRUCTURAL_FIELDS)}
    terms["trial"] = current_trial
    prices = changes.pop("prices", _UNSET)
    terms.update(changes)
    columns = plan_terms_validate(terms)

    changed_fields = [field for field, value in columns.items() if getattr(plan, field) != value]
    structural = [f for f in changed_fields if f in STRUCTURAL_FIELDS]
    if structural and plan_is_referenced(plan=plan):
        raise Unprocessable(
            f"{structural[0]} cannot change once the plan is in use; create a new plan instead.",
            code="plan_in_use",
            param=structural[0],
        )
    if "code" in changed_fields and Plan.objects.filter(code=columns["code"]).exclude(pk=plan.pk).exists():
        raise Conflict(f"A plan with code '{columns['code']}' exists.", code="plan_exists", param="code")

    prices_changed = prices is not _UNSET and _prices_replace(plan=plan, prices=plan_prices_parse(prices))
    if not changed_fields and not prices_changed:
        return plan
    for field in changed_fields:
        setattr(plan, field, columns[field])
    plan.save()
    changed = sorted({("trial" if f.startswith("trial_") else f) for f in changed_fields})
    if prices_changed:
        changed.append("prices")
    event_emit(type="plan.updated", payload={"plan": plan_repr(plan), "changed": changed})
    return plan


@transaction.atomic
def plan_archive(*, plan: Plan) -> Plan:
    """Take a plan off sale. Existing subscribers keep it; archiving twice changes nothing."""
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    if plan.status == Plan.Status.ARCHIVED:
        return plan
    plan.status = Plan.Status.ARCHIVED
    plan.archived_at = timezone.now()
    plan.save(update_fields=["status", "archived_at", "updated_at"])
    event_emit(type="plan.archived", payload={"plan": plan_repr(plan)})
    return plan


@transaction.atomic
def plan_delete(*, plan: Plan) -> None:
    """Delete a plan nobody ever used; once anything references it, archive it instead."""
    if plan_is_referenced(plan=plan):
        raise Unprocessable("This plan is in use: archive it instead.", code="plan_in_use")
    plan.delete()
