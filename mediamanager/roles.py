"""The back office's roles, as Django groups holding model permissions: what each team may see and
do in the admin. `manage.py setup_roles` (also run by `make setup`) makes them; safe to run again:
a group gets exactly its role's permissions, whatever was added or removed by hand."""

from django.contrib.auth.models import Group, Permission
from django.db import transaction

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"

ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    "support": {
        "payments.customer": (VIEW, CHANGE, "erase_customer"),  # erasure requests (data protection)
        "plans.subscription": (VIEW, CHANGE),  # cancel, pause, resume, extend, retry
        "payments.paymentmethod": (VIEW,),
        "payments.payment": (VIEW, "refund_up_to_limit"),  # SUPPORT_REFUND_LIMITS
        "payments.invoice": (VIEW,),
        "payments.creditnote": (VIEW,),  # what a refund gave back, to answer the customer
        "payments.invoicedocument": ("view_pdf",),  # invoice and credit-note PDFs, as issued
        "payments.refund": (VIEW,),
        "integrations.event": (VIEW,),
        # The customer page: passes, and the discounts they hold (campaigns read-only).
        "plans.access": (VIEW,),
        "coupons.discount": (VIEW,),
        "coupons.coupon": (VIEW,),
        "plans.metricsnapshot": ("view_subscription_metrics",),  # the dashboard's counts
        "plans.outgoingemail": (VIEW,),  # "I never got my receipt": was it written, did it go out
    },
    "finance": {
        "payments.customer": (VIEW,),
        "payments.payment": (VIEW, CHANGE, "export_finance"),  # CSV exports of payments, refunds, invoices, payouts
        "payments.refund": (VIEW, ADD, CHANGE),
        "payments.invoice": (VIEW, CHANGE),
        "payments.invoiceevidencereview": (VIEW, CHANGE),  # tax evidence to review; mark reviewed
        "payments.payout": (VIEW,),
        "payments.creditnote": (VIEW,),
        "payments.invoicedocument": ("view_pdf",),  # invoice and credit-note PDFs, as issued
        "payments.paymentmethod": (VIEW,),
        "integrations.event": (VIEW,),
        "integrations.auditevent": (VIEW,),  # who refunded what
        # Tax regions: registrations switch a region's tax on; a rate change is a new row.
        "payments.taxregistration": (VIEW, ADD, CHANGE, "view_tax_report"),  # and the tax report
        "payments.taxrate": (VIEW, ADD, CHANGE),
        "payments.exchangerate": (VIEW, ADD, CHANGE),  # the metrics' currency conversion
        "plans.metricsnapshot": ("view_finance_metrics", "view_subscription_metrics"),  # the whole dashboard
    },
    "marketing": {
        "coupons.coupon": (VIEW, ADD, CHANGE),
        "coupons.couponcode": (VIEW, ADD),
        "coupons.codegeneration": (VIEW,),
        "plans.plan": (VIEW,),
    },
    "catalogue": {
        "plans.plan": (VIEW, ADD, CHANGE, DELETE),
        "plans.subscription": (VIEW,),
        "plans.metricsnapshot": ("view_subscription_metrics",),
    },
    "administrator": {
        "plans.metricsnapshot": ("view_finance_metrics", "view_subscription_metrics"),
        "payments.gatewayaccount": (VIEW, ADD, CHANGE),
        # Invoices and credit notes read-only, with their PDFs: what a customer was sent, when they ask.
        "payments.invoice": (VIEW,),
        "payments.creditnote": (VIEW,),
        "payments.invoicedocument": ("view_pdf",),
        "integrations.apikey": (VIEW, ADD, CHANGE),
        # The keys entitlement tokens are signed with: adding one rotates them.
        "integrations.signingkey": (VIEW, ADD),
        # Outbound webhooks: endpoints (secrets shown once, rotated by an action), deliveries replayed.
        "integrations.webhookendpoint": (VIEW, ADD, CHANGE, DELETE),
        "integrations.webhookdelivery": (VIEW, CHANGE),
        "auth.user": (VIEW, ADD, CHANGE),
        "auth.group": (VIEW,),
        "integrations.event": (VIEW,),
        "plans.outgoingemail": (VIEW,),
        "integrations.connector": (VIEW, ADD, CHANGE),
        "integrations.connectorrecord": (VIEW,),
        "django_q.schedule": (VIEW, CHANGE),
        "django_q.failure": (VIEW, DELETE),
        "django_q.success": (VIEW,),
        "django_q.ormq": (VIEW,),
        "axes.accessattempt": (VIEW, DELETE),  # unlock: delete the attempts
        "axes.accessfailurelog": (VIEW,),
        "integrations.auditevent": (VIEW,),  # read-only for every role: nobody edits or deletes the log
        "payments.exchangerate": (VIEW, ADD, CHANGE),
        # Staff second factor: see who has which device, delete one to reset it (no secret is shown).
        "otp_totp.totpdevice": (VIEW, DELETE),
        "otp_static.staticdevice": (VIEW, DELETE),
        "django_otp_webauthn.webauthncredential": (VIEW, DELETE),
    },
}


def role_permissions(role: str) -> list[Permission]:
    wanted = []
    for label, actions in ROLES[role].items():
        app_label, model = label.split(".")
        codenames = [f"{action}_{model}" if action in (VIEW, ADD, CHANGE, DELETE) else action for action in actions]
        found = list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
        if len(found) != len(codenames):
            missing = set(codenames) - {p.codename for p in found}
            raise LookupError(f"Role {role}: no permission {', '.join(sorted(missing))} for {label} (migrated?)")
        wanted.extend(found)
    return wanted


@transaction.atomic
def roles_sync() -> dict[str, int]:
    """Each role's group with exactly its permissions; returns how many each holds."""
    counts = {}
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        permissions = role_permissions(role)
        group.permissions.set(permissions)
        counts[role] = len(permissions)
    return counts
