"""A customer with something in every part of the customer page, made through the services on
the sandbox gateway: subscriptions (one with a coupon's discount), passes (one refunded), their
invoices and payments, an account discount, cards and the events all of it wrote."""

from dataclasses import dataclass, field

from coupons.services import coupon_create, coupon_redeem_on_account
from payments.models import Customer, GatewayAccount, PaymentMethod
from payments.services import payment_refund
from payments.tests.factories import CustomerFactory, sandbox_card
from plans.models import Access, Subscription
from plans.services import checkout
from plans.tests.factories import PlanFactory


@dataclass
class Story:
    customer: Customer
    cards: list[PaymentMethod] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    passes: list[Access] = field(default_factory=list)
    payments: list = field(default_factory=list)
    refunds: list = field(default_factory=list)


def customer_story(account: GatewayAccount, *, times: int = 1, customer: Customer | None = None) -> Story:
    """`times` of each: a subscription bought with a repeating coupon, a card, a pass refunded in
    full, and an account-wide discount."""
    story = Story(customer=customer or CustomerFactory(country="DE", currency="EUR"))
    for _ in range(times):
        tag = f"{len(story.subscriptions) + 1}{story.customer.pk[-6:]}".upper()
        card = sandbox_card(customer=story.customer, account=account)
        story.cards.append(card)
        plan = PlanFactory(name=f"Monthly {tag}")
        coupon_create(
            name=f"Three months {tag}",
            kind="single_code",
            code=f"THREE-{tag}",
            discount={"type": "percent", "percent_off": "10"},
            duration="repeating",
            duration_cycles=3,
        )
        bought = checkout(
            customer=story.customer, plan_id=plan.pk, payment_method_id=card.pk, coupon_code=f"THREE-{tag}"
        )
        story.subscriptions.append(bought.subscription)
        story.payments.append(bought.payment)
        day_pass = PlanFactory(name=f"Day pass {tag}", kind="one_off", interval=None, access_days=1)
        passed = checkout(customer=story.customer, plan_id=day_pass.pk, payment_method_id=card.pk)
        story.passes.append(passed.access)
        story.payments.append(passed.payment)
        story.refunds.append(payment_refund(payment=passed.payment, reason="Bought by mistake"))
        coupon_create(
            name=f"Loyalty {tag}",
            kind="single_code",
            code=f"LOYAL-{tag}",
            discount={"type": "percent", "percent_off": "5"},
            duration="forever",
            redemption_target="account",
        )
        coupon_redeem_on_account(customer=story.customer, code=f"LOYAL-{tag}")
    return story
