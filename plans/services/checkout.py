"""Checkout: a recurring plan starts a subscription (a trial, with or without a card, or a first
period charged now on-session); a one-off plan buys a pass (access for `access_days` once its
invoice is paid). Coupons are checked first and redeemed in the purchase's transaction."""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from moneyed import Money

from coupons.representations import coupon_discount_repr
from coupons.services import (
    CodeAttempt,
    CouponRefused,
    Found,
    coupon_check,
    coupon_find,
    coupon_redeem,
    discount_given_record,
    discount_preview,
    pass_discount,
    trial_override_for,
)
from integrations.kernel import clock
from integrations.kernel.api.idempotency import idempotency_resource_record, idempotency_resumed_resource
from integrations.kernel.errors import CardError, Conflict, InvalidRequest, Unprocessable
from integrations.kernel.ids import new_id
from payments.currency import normalize_country
from payments.gateways.base import ChargeStatus
from payments.models import Customer, Invoice, Payment, PaymentMethod
from payments.services import (
    Buyer,
    LineSpec,
    gateway_account_check,
    invoice_create,
    invoice_finalize,
    invoice_pay,
    payment_method_setup,
    price_quote,
)
from plans.models import (
    ACCESS_INVOICE_SOURCE,
    LIVE_STATUSES,
    Access,
    Plan,
    PlanPrice,
    Subscription,
    SubscriptionInvoice,
)
from plans.periods import period_end, trial_end
from plans.selectors import plan_current_price
from plans.services.renewal import period_invoice, tax_terms
from plans.services.subscriptions import subscription_create

Status = Subscription.Status


@dataclass(frozen=True)
class CheckoutResult:
    access: Access | None
    invoice: Invoice | None
    payment: Payment | None
    subscription: Subscription | None = None
    setup_action_url: str = ""  # a trial's card asks for 3-D Secure to be set up for later charges


def _checkout_payment_method(*, customer: Customer, payment_method_id: str | None) -> PaymentMethod | None:
    cards = PaymentMethod.objects.filter(customer=customer, detached_at__isnull=True).select_related("gateway_account")
    if payment_method_id:
        method = cards.filter(pk=payment_method_id).first()
        if method is None:
            raise InvalidRequest("No such payment method.", code="resource_missing", param="payment_method")
    else:
        method = cards.filter(is_default=True).first()
    if method is not None:
        gateway_account_check(account=method.gateway_account, customer=customer, param="payment_method")
    return method


def _card_declined(payment: Payment | None) -> None:
    if payment is not None and payment.status == Payment.Status.FAILED:
        raise CardError(
            payment.failure_message or "The card was declined.", code=payment.decline_code or "card_declined"
        )


def return_url_check(url: str) -> str:
    """Where a customer may be sent back after 3-D Secure (API.md): https (http only while DEBUG), at
    an origin in RETURN_URL_ALLOWED_ORIGINS (empty: SITE_URL's). Never an open redirect."""
    if not url:
        return ""
    parts = urlsplit(url) if isinstance(url, str) and len(url) <= 500 and url.isprintable() else None
    schemes = ("https", "http") if settings.DEBUG else ("https",)
    allowed = settings.RETURN_URL_ALLOWED_ORIGINS or [_origin(settings.SITE_URL)]
    if parts is None or parts.scheme not in schemes or not parts.hostname or _origin(url) not in allowed:
        raise InvalidRequest(
            "return_url must be an https address of this service's app.",
            code="return_url_not_allowed",
            param="return_url",
        )
    return url


def ip_country_check(value: object) -> str:
    """The app's `ip_country` (evidence of where the customer is): "" for none, else an upper-case
    ISO 3166-1 alpha-2 code, or 400 parameter_invalid."""
    if value is None or value == "":
        return ""
    try:
        return normalize_country(value)
    except InvalidRequest:
        raise InvalidRequest(
            "ip_country must be an ISO 3166-1 alpha-2 country code.", code="parameter_invalid", param="ip_country"
        ) from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def checkout_coupon(
    *, code: object, customer: Customer, plan: Plan, currency: str, address: str | None = None
) -> Found:
    """A code that checkout of this plan can use, or CouponRefused (plans decides what applies to
    its plans: a free-trial coupon only to recurring ones). The customer typed it: an unknown code
    counts against their failed attempts (and the client `address`'s), 429 once past the limit."""
    found = coupon_find(code=code, attempt=CodeAttempt(customer_id=customer.id, address=address))
    coupon_check(found=found, customer=customer, target="subscription", plan_id=plan.pk, currency=currency)
    if plan.kind != Plan.Kind.RECURRING and trial_override_for(found.coupon):
        raise CouponRefused(
            "A free-trial coupon applies to subscriptions.", code="coupon_not_applicable", param="coupon_code"
        )
    return found


def subscription_check_conflict(*, customer: Customer, plan: Plan) -> None:
    if Subscription.objects.filter(customer=customer, plan=plan, status__in=LIVE_STATUSES).exists():
        raise Conflict(
            "The customer already has a live subscription to this plan.", code="subscription_exists", param="plan"
        )


def _signup_lock(*, customer: Customer, plan: Plan) -> None:
    """Inside a signup's transaction: the customer's row lock serializes their signups (a double tap
    on checkout waits here), then the one-live-subscription rule is checked again under it."""
    Customer.objects.select_for_update().filter(pk=customer.pk).first()
    subscription_check_conflict(customer=customer, plan=plan)


def checkout(
    *,
    customer: Customer,
    plan_id: str,
    payment_method_id: str | None = None,
    coupon_code: str | None = None,
    return_url: str = "",
    address: str | None = None,
    ip_country: str = "",
) -> CheckoutResult:
    """Buy a plan: a subscription for a recurring plan, a pass for a one-off plan. `address`: the
    client's, where failed coupon codes are counted too. `ip_country`: where the app sees the
    customer, evidence for the place of supply of the first invoice."""
    ip_country = ip_country_check(ip_country)
    resumed = _checkout_resume(customer=customer, payment_method_id=payment_method_id, return_url=return_url)
    if resumed is not None:
        return resumed
    plan = Plan.objects.filter(pk=plan_id).first()
    if plan is None:
        raise InvalidRequest(f"No plan '{plan_id}'.", code="resource_missing", param="plan")
    if plan.status != Plan.Status.ACTIVE:
        raise Unprocessable("This plan is no longer on sale.", code="plan_not_available", param="plan")
    return_url = return_url_check(return_url)
    price = plan_current_price(plan=plan, currency=customer.currency)
    if price is None:
        raise Unprocessable(
            f"This plan is not sold in {customer.currency}.", code="plan_not_available_in_currency", param="plan"
        )
    method = _checkout_payment_method(customer=customer, payment_method_id=payment_method_id)
    if plan.kind == Plan.Kind.RECURRING:
        subscription_check_conflict(customer=customer, plan=plan)
    found = (
        checkout_coupon(code=coupon_code, customer=customer, plan=plan, currency=price.currency, address=address)
        if coupon_code
        else None
    )
    if plan.kind == Plan.Kind.RECURRING:
        return subscription_start(
            customer=customer,
            plan=plan,
            price=price,
            payment_method=method,
            return_url=return_url,
            coupon=found,
            ip_country=ip_country,
        )
    return _pass_buy(
        customer=customer,
        plan=plan,
        price=price,
        method=method,
        coupon=found,
        return_url=return_url,
        ip_country=ip_country,
    )


def _checkout_resume(*, customer: Customer, payment_method_id: str | None, return_url: str) -> CheckoutResult | None:
    """This very checkout (same Idempotency-Key and body), taken over from a run whose process died
    after it made the purchase: that purchase carried on, never a second one. Its invoice is charged
    if the first run never got to it; a charge already started is the payment sweep's to settle."""
    made = idempotency_resumed_resource()
    if not made:
        return None
    subscription = Subscription.objects.filter(pk=made, customer=customer).first()
    access = (
        None if subscription else Access.objects.filter(pk=made, customer=customer).select_related("invoice").first()
    )
    if subscription is None and access is None:
        return None
    if subscription is not None:
        link = subscription.invoice_links.filter(purpose=SubscriptionInvoice.Purpose.FIRST).first()
        invoice = link.invoice if link else None
    else:
        invoice = access.invoice
    payment = None
    if invoice is not None:
        payment = invoice.payments.order_by("-created_at").first()
        if invoice.status == Invoice.Status.OPEN and payment is None:
            method = _checkout_payment_method(customer=customer, payment_method_id=payment_method_id)
            payment = invoice_pay(invoice=invoice, payment_method=method, off_session=False, return_url=return_url)
        invoice.refresh_from_db()
    for made_row in (subscription, access):
        if made_row is not None:
            made_row.refresh_from_db()
    _card_declined(payment)
    return CheckoutResult(access=access, subscription=subscription, invoice=invoice, payment=payment)


def subscription_start(
    *,
    customer: Customer,
    plan: Plan,
    price: PlanPrice,
    payment_method: PaymentMethod | None,
    return_url: str = "",
    coupon: Found | None = None,
    ip_country: str = "",
) -> CheckoutResult:
    """A trial (with or without a card, per the plan), or the first period charged now on-session
    (3-D Secure leaves it `incomplete` until the customer finishes). A free-trial coupon sets the
    trial's length; any coupon is redeemed with the subscription, in its transaction. `ip_country`
    (checked by `checkout`) is evidence for the first invoice's tax, which stores it."""
    now = clock.now()
    trial_override = trial_override_for(coupon.coupon) if coupon else None

    def redeem(sub: Subscription) -> None:
        if coupon:
            coupon_redeem(
                code=coupon.code.code,
                customer=customer,
                target="subscription",
                plan_id=plan.pk,
                currency=price.currency,
                subscription_id=sub.id,
            )

    if plan.has_trial or trial_override is not None:
        if Subscription.objects.filter(customer=customer, trial_plan=plan).exists():
            raise Unprocessable(
                "This customer has already had this plan's free trial; it is given once.",
                code="trial_already_used",
                param="plan",
            )
        if plan.trial_requires_payment_method and payment_method is None:
            raise InvalidRequest("This plan's trial needs a card.", code="parameter_missing", param="payment_method")
        setup = None
        if payment_method is not None:  # authenticate the card now, so the charge at the trial's end is off-session
            setup = payment_method_setup(
                payment_method=payment_method, purpose=f"trial-{plan.id}", return_url=return_url
            )
            if setup.status == ChargeStatus.FAILED:
                raise CardError(setup.message or "The card was declined.", code=setup.decline_code or "card_declined")
        length, unit = trial_override or (plan.trial_length, plan.trial_unit)
        ends = trial_end(plan, now, length=length, unit=unit)
        try:
            with transaction.atomic():
                _signup_lock(customer=customer, plan=plan)
                sub = subscription_create(
                    customer=customer,
                    plan=plan,
                    price=price,
                    status=Status.TRIALING,
                    payment_method=payment_method,
                    period_start=now,
                    period_end=ends,
                    next_billing_at=ends,
                    trial=True,
                )
                idempotency_resource_record(sub.id)
                redeem(sub)
        except IntegrityError:  # a concurrent signup took the trial first
            raise Unprocessable(
                "This customer has already had this plan's free trial; it is given once.",
                code="trial_already_used",
                param="plan",
            ) from None
        action_url = setup.action_url if setup is not None and setup.status == ChargeStatus.REQUIRES_ACTION else ""
        return CheckoutResult(access=None, subscription=sub, invoice=None, payment=None, setup_action_url=action_url)

    if payment_method is None and price.amount.amount > 0:
        raise InvalidRequest("A card is needed for this plan.", code="parameter_missing", param="payment_method")
    ends = period_end(plan, now)
    with transaction.atomic():
        _signup_lock(customer=customer, plan=plan)
        sub = subscription_create(
            customer=customer,
            plan=plan,
            price=price,
            status=Status.INCOMPLETE,
            payment_method=payment_method,
            period_start=now,
            period_end=ends,
            next_billing_at=now + timedelta(hours=settings.BILLING_INCOMPLETE_EXPIRY_HOURS),
        )
        idempotency_resource_record(sub.id)
        redeem(sub)
        invoice = period_invoice(
            sub=sub,
            purpose=SubscriptionInvoice.Purpose.FIRST,
            start=now,
            end=ends,
            price=price,
            card=payment_method,
            ip_country=ip_country,
        )
    payment = None
    if invoice.status == Invoice.Status.OPEN:
        payment = invoice_pay(invoice=invoice, payment_method=payment_method, off_session=False, return_url=return_url)
    sub.refresh_from_db()
    invoice = _invoice_now(invoice, payment)
    _card_declined(payment)
    return CheckoutResult(access=None, subscription=sub, invoice=invoice, payment=payment)


def _invoice_now(invoice: Invoice, payment: Payment | None) -> Invoice:
    """The invoice as the charge left it: when paid, the instance settlement locked and paid (its
    lines and credit notes at hand), else read again."""
    if (
        payment is not None
        and payment.status == Payment.Status.SUCCEEDED
        and payment.invoice.status == Invoice.Status.PAID
    ):
        return payment.invoice
    invoice.refresh_from_db()
    return invoice


def _pass_buy(
    *,
    customer: Customer,
    plan: Plan,
    price: PlanPrice,
    method: PaymentMethod | None,
    coupon: Found | None,
    return_url: str,
    ip_country: str = "",
) -> CheckoutResult:
    """An invoice charged now on-session; access for the plan's `access_days` once it is paid (after
    3-D Secure if the bank asks). A coupon is used up by this one purchase. `ip_country`: evidence
    for the invoice's tax, as in `subscription_start`."""
    discount = discount_preview(coupon=coupon.coupon, amount=price.amount) if coupon else Money(0, price.currency)
    if method is None and price.amount.amount - discount.amount > 0:
        raise InvalidRequest("A card is needed for this plan.", code="parameter_missing", param="payment_method")
    access_id = new_id("acc")  # known before the invoice, which names it as its source
    with transaction.atomic():
        redemption = None
        if coupon:
            redemption = coupon_redeem(
                code=coupon.code.code,
                customer=customer,
                target="subscription",
                plan_id=plan.pk,
                currency=price.currency,
                used_now=True,
            )
        given = pass_discount(redemption=redemption, amount=price.amount)
        invoice = invoice_create(
            customer=customer,
            currency=price.currency,
            lines=[
                LineSpec(
                    description=plan.name, unit_amount=price.amount, discount=given.total, reference=f"price:{price.pk}"
                )
            ],
            terms=tax_terms(plan, method, ip_country),
            source=f"{ACCESS_INVOICE_SOURCE}{access_id}",
            description=plan.name,
        )
        discount_given_record(invoice=invoice, discount=given)
        access = Access.objects.create(
            id=access_id, customer=customer, plan=plan, price=price, invoice=invoice, coupon_redemption=redemption
        )
        idempotency_resource_record(access.id)
        invoice = invoice_finalize(invoice=invoice)  # a zero total is paid here, granting access
    payment = None
    if invoice.status == Invoice.Status.OPEN:
        payment = invoice_pay(invoice=invoice, payment_method=method, off_session=False, return_url=return_url)
    access.refresh_from_db()
    invoice = _invoice_now(invoice, payment)
    _card_declined(payment)
    return CheckoutResult(access=access, invoice=invoice, payment=payment)


def coupon_preview(*, customer: Customer, code: object, plan: Plan | str, address: str | None = None) -> dict:
    """What checkout would make of this code for this plan, without redeeming it:
    `{valid, reason, discount, preview}`. A code that cannot be used is `valid: false` with the
    coupon error code as `reason` (never an error); an unknown plan is a 400 (resource_missing).
    `preview` is the first invoice in the customer's currency, Money values: {subtotal, discount,
    tax, total}, `total` what will be charged (after the discount; tax added for an exclusive plan,
    included for an inclusive one), taxed by payments' quote as the invoice will be (a free-trial
    coupon: all of it off, nothing charged, and its `trial`). An unknown code counts against the
    customer's and the client `address`'s failed attempts; past a limit, 429 rate_limited."""
    if not isinstance(plan, Plan):
        plan_id, plan = plan, Plan.objects.filter(pk=plan).first()
        if plan is None:
            raise InvalidRequest(f"No plan '{plan_id}'.", code="resource_missing", param="plan")
    price = plan_current_price(plan=plan, currency=customer.currency)
    if price is None:
        raise Unprocessable(
            f"This plan is not sold in {customer.currency}.", code="plan_not_available_in_currency", param="plan"
        )
    try:
        found = checkout_coupon(code=code, customer=customer, plan=plan, currency=customer.currency, address=address)
    except CouponRefused as refused:
        return {"valid": False, "reason": refused.code, "discount": None, "preview": None}
    subtotal, trial = price.amount, trial_override_for(found.coupon)
    if trial:
        nothing = Money(0, subtotal.currency)
        preview = {
            "subtotal": subtotal,
            "discount": subtotal,
            "tax": nothing,
            "total": nothing,
            "trial": {"length": trial[0], "unit": trial[1]},
        }
    else:
        discount = min(discount_preview(coupon=found.coupon, amount=subtotal), subtotal)
        quote = price_quote(
            buyer=Buyer.of(customer),
            amount=subtotal,
            behavior=plan.tax_behavior,
            category=plan.tax_category,
            discount=discount,
        )
        preview = {"subtotal": subtotal, "discount": quote.discount, "tax": quote.tax, "total": quote.total}
    return {"valid": True, "reason": None, "discount": coupon_discount_repr(found.coupon), "preview": preview}
