from integrations.kernel.commands import AuditedCommand
from payments.models import GatewayAccount
from payments.services import gateway_account_create
from plans.models import Plan
from plans.services import Trial, plan_create


def _prices(**amounts: str) -> list[dict]:
    return [{"amount": amount, "currency": currency} for currency, amount in amounts.items()]


DEMO_PLANS = [
    {
        "code": "monthly",
        "name": "Monthly",
        "description": "Everything, billed monthly.",
        "kind": "recurring",
        "interval": "month",
        "prices": _prices(EUR="9.99", GBP="8.99", USD="10.99", JPY="1500", KWD="3.250"),
    },
    {
        "code": "annual",
        "name": "Annual",
        "description": "A year of everything, 7-day trial (card required).",
        "kind": "recurring",
        "interval": "year",
        "trial": Trial(7, "day", requires_payment_method=True),
        "prices": _prices(EUR="99.00", GBP="89.00", USD="109.00", JPY="15000", KWD="32.500"),
    },
    {
        "code": "monthly-free-trial",
        "name": "Monthly with free trial",
        "description": "14 days free, no card needed.",
        "kind": "recurring",
        "interval": "month",
        "trial": Trial(14, "day", requires_payment_method=False),
        "prices": _prices(EUR="7.99", GBP="6.99", USD="8.99", JPY="1200", KWD="2.500"),
    },
    {
        "code": "event-pass-48h",
        "name": "Event pass (48 hours)",
        "description": "One live event and its replay.",
        "kind": "one_off",
        "access_days": 2,
        "prices": _prices(EUR="4.99", GBP="4.49", USD="5.99", JPY="700", KWD="1.500"),
    },
    {
        "code": "quarterly-3",
        "name": "Quarterly, three quarters",
        "description": "Billed every 3 months, 3 times.",
        "kind": "recurring",
        "interval": "month",
        "interval_count": 3,
        "billing_cycles": 3,
        "prices": _prices(EUR="24.99", GBP="21.99", USD="27.99", JPY="3900", KWD="7.500"),
    },
]


class Command(AuditedCommand):
    help = (
        "Load the demo catalogue and a sandbox gateway. Idempotent: plans that exist (by code) and an "
        "existing sandbox gateway are left as they are."
    )

    def handle(self, *args, **options):
        if not GatewayAccount.objects.filter(provider="sandbox").exists():
            gateway_account_create(provider="sandbox", display_name="Sandbox (test cards)")
            self.stdout.write("created sandbox gateway")
        for terms in DEMO_PLANS:
            if Plan.objects.filter(code=terms["code"]).exists():
                self.stdout.write(f"exists  {terms['code']}")
                continue
            plan_create(**terms)
            self.stdout.write(f"created {terms['code']}")
