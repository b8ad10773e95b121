import factory
from moneyed import Money

from payments import services
from payments.gateways.sandbox.gateway import sandbox_tokenize
from payments.models import Customer, GatewayAccount, Invoice, Payment, PaymentMethod


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"user-{n}")
    email = factory.LazyAttribute(lambda c: f"{c.external_id}@example.com")
    name = factory.Faker("name")
    country = "DE"
    currency = "EUR"


# --- The real flow, through the services and the sandbox gateway --------------------------------


def sandbox_account(**overrides) -> GatewayAccount:
    """A sandbox gateway account made by the service (credentials generated and encrypted)."""
    return services.gateway_account_create(**{"provider": "sandbox", "display_name": "Sandbox", **overrides})


def sandbox_card(*, customer: Customer, account: GatewayAccount, number: str = "4242424242424242") -> PaymentMethod:
    """A card tokenized by the sandbox and attached to the customer."""
    tokenized = sandbox_tokenize(
        publishable_key=account.credentials["publishable_key"], number=number, exp_month=12, exp_year=2034, cvc="123"
    )
    return services.payment_method_attach(customer=customer, gateway_account_id=account.id, token=tokenized.token)


def open_invoice(*, customer: Customer, amount: str = "9.99", currency: str = "EUR") -> Invoice:
    invoice = services.invoice_create(
        customer=customer,
        currency=currency,
        lines=[services.LineSpec(description="Pass", unit_amount=Money(amount, currency))],
    )
    return services.invoice_finalize(invoice=invoice)


def succeeded_payment(
    *, customer: Customer | None = None, account: GatewayAccount | None = None, amount: str = "9.99"
) -> Payment:
    """A payment the sandbox captured: gateway account, card, invoice, finalize, pay."""
    customer = customer or CustomerFactory()
    account = account or GatewayAccount.objects.filter(provider="sandbox").first() or sandbox_account()
    card = sandbox_card(customer=customer, account=account)
    payment = services.invoice_pay(invoice=open_invoice(customer=customer, amount=amount), payment_method=card)
    assert payment.status == Payment.Status.SUCCEEDED, payment.status
    return payment
