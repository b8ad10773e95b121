"""Subscriber migration: customers and their already-paid subscriptions brought over from another
billing system, each row in its own transaction, idempotent per external_id."""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.dateparse import parse_date, parse_datetime

from coupons.services import coupon_redeem, trial_override_for
from integrations.kernel import clock
from integrations.kernel.errors import DomainError
from payments.currency import country_currency, normalize_country
from payments.models import Customer
from payments.selectors import gateway_account_route
from payments.services import customer_create, payment_method_attach
from plans.models import Plan, PlanPrice, Subscription
from plans.periods import add_interval
from plans.selectors import plan_current_price
from plans.services.mrr import subscription_mrr_sync
from plans.services.subscriptions import subscription_create

REQUIRED_COLUMNS = ("external_id", "email", "country", "plan", "paid_through")
OPTIONAL_COLUMNS = ("card_token", "coupon_code")
SOURCE = "import"
logger = logging.getLogger("plans.imports")

CREATED, SKIPPED, REFUSED = "created", "skipped", "refused"


@dataclass(frozen=True)
class ImportRowResult:
    row: int  # as a spreadsheet numbers it: the header is row 1
    external_id: str
    outcome: str  # created | skipped | refused
    reason: str = ""  # a stable word for skipped and refused rows, e.g. unknown_plan
    detail: str = ""  # what to fix, in words
    customer_id: str = ""
    subscription_id: str = ""


class _Refused(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class _DryRunRollback(Exception):
    pass


@dataclass(frozen=True)
class _Valid:
    external_id: str
    email: str
    country: str
    plan: Plan
    price: PlanPrice
    paid_through: datetime
    card_token: str
    coupon_code: str


def _paid_through(raw: str, now: datetime) -> datetime:
    """An ISO datetime (UTC unless it says otherwise) or an ISO date (00:00 UTC that day)."""
    try:
        when = parse_datetime(raw)
        if when is None:
            day = parse_date(raw)
            when = datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
    except ValueError:  # well formed but impossible, e.g. 2027-02-30
        when = None
    if when is None:
        raise _Refused("bad_paid_through", f"paid_through '{raw}' is not an ISO 8601 date or datetime.")
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when <= now:
        raise _Refused("paid_through_past", f"paid_through {when.isoformat()} is not in the future.")
    return when


def _validate(row: Mapping[str, str], now: datetime) -> _Valid:
    """Every check that needs no write, in the order a person fixing the file would want them."""
    external_id = row["external_id"]
    if len(external_id) > Customer._meta.get_field("external_id").max_length:
        raise _Refused("bad_external_id", "external_id is longer than 255 characters.")
    email = row["email"]
    try:
        validate_email(email)
        if len(email) > Customer._meta.get_field("email").max_length:
            raise ValidationError("too long")
    except ValidationError:
        raise _Refused("bad_email", f"'{email}' is not an email address.") from None
    try:
        country = normalize_country(row["country"])
    except DomainError:
        raise _Refused("bad_country", f"'{row['country']}' is not an ISO 3166-1 alpha-2 country code.") from None
    plan = Plan.objects.filter(code=row["plan"]).first()
    if plan is None:
        raise _Refused("unknown_plan", f"No plan with code '{row['plan']}'.")
    if plan.kind != Plan.Kind.RECURRING:
        raise _Refused("one_off_plan", f"Plan '{plan.code}' is a one-off pass, not a subscription.")
    if plan.status != Plan.Status.ACTIVE:
        raise _Refused("plan_archived", f"Plan '{plan.code}' is archived.")
    if plan.billing_cycles:
        raise _Refused(
            "fixed_cycle_plan",
            f"Plan '{plan.code}' ends after {plan.billing_cycles} cycles and the file does not say how many were used.",
        )
    currency = country_currency(country)
    price = plan_current_price(plan=plan, currency=currency)
    if price is None:
        raise _Refused("no_price_in_currency", f"Plan '{plan.code}' has no price in {currency} (country {country}).")
    return _Valid(
        external_id=external_id,
        email=email,
        country=country,
        plan=plan,
        price=price,
        paid_through=_paid_through(row["paid_through"], now),
        card_token=row["card_token"],
        coupon_code=row["coupon_code"],
    )


def _create(valid: _Valid, *, now: datetime, dry_run: bool) -> tuple[Customer, Subscription]:
    """The customer, their card, and an active subscription paid until `paid_through`. Raises
    _Refused (the caller's transaction then leaves nothing of the row behind)."""
    customer = customer_create(external_id=valid.external_id, email=valid.email, country=valid.country)
    method = None
    if valid.card_token:
        try:
            account = gateway_account_route(country=customer.country, currency=valid.price.currency)
        except DomainError as error:
            raise _Refused("no_gateway", error.message) from None
        if not dry_run:  # a gateway has no dry run: attaching is a real change on its side
            try:
                method = payment_method_attach(customer=customer, gateway_account_id=account.id, token=valid.card_token)
            except DomainError as error:
                raise _Refused(
                    "card_refused", f"card_token refused by {account.display_name}: {error.message}"
                ) from None
    subscription = subscription_create(
        customer=customer,
        plan=valid.plan,
        price=valid.price,
        status=Subscription.Status.ACTIVE,
        payment_method=method,
        period_start=now,
        period_end=valid.paid_through,
        next_billing_at=valid.paid_through,
        source=SOURCE,
        mrr_sync=False,  # after its coupon: a forever discount is deducted from its first MRR
    )
    if valid.coupon_code:  # the discount or free period agreed with the subscriber on the old platform
        try:
            redemption = coupon_redeem(
                code=valid.coupon_code,
                customer=customer,
                target="subscription",
                plan_id=valid.plan.pk,
                currency=valid.price.currency,
                subscription_id=subscription.id,
            )
        except DomainError as error:
            raise _Refused(error.code, f"coupon_code {valid.coupon_code}: {error.message}") from None
        extra = trial_override_for(redemption.coupon)
        if extra:  # a free period: the first charge moves out by the coupon's trial length
            length, unit = extra
            subscription.current_period_end = subscription.next_billing_at = add_interval(
                valid.paid_through, unit=unit, count=length
            )
            subscription.save(update_fields=["current_period_end", "next_billing_at", "updated_at"])
    subscription_mrr_sync(subscription=subscription, at=now)
    return customer, subscription


def _clean(row: Mapping[str, str | None]) -> dict[str, str]:
    columns = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    return {name: (row.get(name) or "").strip() for name in columns}


def _import_row(number: int, raw: Mapping, *, seen: dict[str, int], now: datetime, dry_run: bool) -> ImportRowResult:
    row = _clean(raw)
    external_id = row["external_id"]
    if not external_id:
        return ImportRowResult(number, "", REFUSED, "missing_external_id", "external_id is empty.")
    if external_id in seen:
        return ImportRowResult(
            number, external_id, REFUSED, "duplicate_in_file", f"Row {seen[external_id]} has the same external_id."
        )
    seen[external_id] = number
    try:
        with transaction.atomic():  # one row, all or nothing
            existing = Customer.objects.filter(external_id=external_id).first()
            if existing is not None:
                return ImportRowResult(
                    number, external_id, SKIPPED, "exists", f"Customer {existing.id} exists.", customer_id=existing.id
                )
            valid = _validate(row, now)
            customer, subscription = _create(valid, now=now, dry_run=dry_run)
    except _Refused as refused:
        return ImportRowResult(number, external_id, REFUSED, refused.reason, refused.detail)
    except DomainError as error:
        if error.code == "customer_exists":  # another import of the same row got there first
            return ImportRowResult(number, external_id, SKIPPED, "exists", error.message)
        return ImportRowResult(number, external_id, REFUSED, error.code, error.message)
    except Exception:  # one unreadable row must not lose the report of the others; it wrote nothing
        logger.exception("Importing row %s (%s) failed", number, external_id)
        return ImportRowResult(number, external_id, REFUSED, "error", "Unexpected error; see the log.")
    return ImportRowResult(
        number,
        external_id,
        CREATED,
        detail=f"{valid.plan.code} paid through {valid.paid_through.isoformat()}",
        customer_id="" if dry_run else customer.id,  # a dry run's ids are rolled back with its rows
        subscription_id="" if dry_run else subscription.id,
    )


def subscribers_import(*, rows: Iterable[Mapping[str, str | None]], dry_run: bool = False) -> list[ImportRowResult]:
    """Import subscribers from CSV rows (dicts keyed by column name). Each row creates a customer
    and an ACTIVE subscription on the plan's current price in the customer's currency that runs
    without charge until `paid_through`, then renews through `run_billing`. A row whose
    external_id exists is skipped; a bad row is refused with its reason and leaves nothing behind.
    `dry_run` checks everything and writes nothing (card tokens are not sent to the gateway)."""
    now = clock.now()
    seen: dict[str, int] = {}
    results: list[ImportRowResult] = []

    def run() -> None:
        for number, raw in enumerate(rows, start=2):
            results.append(_import_row(number, raw, seen=seen, now=now, dry_run=dry_run))

    if not dry_run:
        run()  # one transaction per row: a crash halfway keeps the rows done, and a rerun skips them
        return results
    try:
        with transaction.atomic():  # the same work, rolled back at the end
            run()
            raise _DryRunRollback
    except _DryRunRollback:
        pass
    return results
