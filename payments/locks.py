"""Row locks on payments' tables, in one place so every path takes them the same way."""

from payments.models import Payment


def payment_lock(payment_id: str) -> Payment:
    """The payment row, locked (not its joined invoice), with its invoice loaded."""
    return Payment.objects.select_for_update(of=("self",)).select_related("invoice").get(pk=payment_id)
