"""Helpers shared by the admin tests of the payment screens (payments/tests/test_admin_*.py): the
screens' URLs and the rows a changelist shows."""

GATEWAYS = "/admin/payments/gatewayaccount/"
CARDS = "/admin/payments/paymentmethod/"
PAYMENTS = "/admin/payments/payment/"
INVOICES = "/admin/payments/invoice/"
PAYOUTS = "/admin/payments/payout/"
REFUNDS = "/admin/payments/refund/"


def _listed(response) -> list[str]:
    return [obj.pk for obj in response.context["cl"].result_list]
