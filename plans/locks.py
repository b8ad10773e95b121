"""Row locks on plans' tables, in one place so every path takes them the same way."""

from plans.models import Subscription


def subscription_lock(subscription_id: str) -> Subscription:
    """The subscription row, locked (not its joined plan and price), with those loaded."""
    return Subscription.objects.select_for_update(of=("self",)).select_related("plan", "price").get(pk=subscription_id)
