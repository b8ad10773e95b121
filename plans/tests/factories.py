import factory

from plans.services import plan_create


class PlanFactory(factory.Factory):
    """Plans made through the service, so they are valid and carry their prices."""

    class Meta:
        model = dict

    code = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.Sequence(lambda n: f"Plan {n}")
    kind = "recurring"
    interval = "month"
    prices = factory.LazyFunction(
        lambda: [{"amount": "9.99", "currency": "EUR"}, {"amount": "1000", "currency": "JPY"}]
    )

    @classmethod
    def _create(cls, model_class, **kwargs):
        return plan_create(**kwargs)

    _build = _create


def plan_in_use(plan, *, by: str = "") -> None:
    """Make something real point at the plan: a subscription (recurring plans), a pass (one-off
    plans), or a coupon campaign that applies to it."""
    from coupons.services import coupon_create
    from integrations.kernel import clock
    from payments.tests.factories import CustomerFactory
    from plans.models import Access, Plan, PlanPrice, Subscription
    from plans.periods import period_end
    from plans.services import subscription_create

    by = by or ("subscription" if plan.kind == Plan.Kind.RECURRING else "access")
    price = PlanPrice.objects.filter(plan=plan, is_current=True).first()
    if by == "coupon":
        coupon_create(
            name="For this plan",
            kind="single_code",
            code=f"IN-USE-{plan.pk[-6:]}".upper(),
            discount={"type": "percent", "percent_off": "10"},
            applies_to_plans=[plan.pk],
        )
        return
    customer = CustomerFactory(currency=price.currency)
    if by == "access":
        Access.objects.create(customer=customer, plan=plan, price=price)
        return
    now = clock.now()
    subscription_create(
        customer=customer,
        plan=plan,
        price=price,
        status=Subscription.Status.ACTIVE,
        payment_method=None,
        period_start=now,
        period_end=period_end(plan, now),
        next_billing_at=period_end(plan, now),
    )
