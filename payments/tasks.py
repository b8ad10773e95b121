"""django-q2 entry points: thin, safe to run twice."""

from payments import services


def customer_tokens_purge() -> int:
    return services.customer_tokens_purge()


def payments_reconcile() -> dict:
    return services.payments_reconcile()


def refunds_reconcile() -> int:
    return services.refunds_reconcile()


def payouts_create_sandbox() -> int:
    return len(services.payouts_create_sandbox())


def gateway_cards_release(customer_id: str) -> bool:
    return services.gateway_cards_release(customer_id=customer_id)


def gateway_cards_release_pending() -> int:
    return services.gateway_cards_release_pending()


def customer_tax_id_verify(customer_id: str) -> str | None:
    customer = services.customer_tax_id_verify(customer_id=customer_id)
    return customer.tax_id_status if customer is not None else None


def customer_tax_ids_recheck() -> int:
    return services.customer_tax_ids_recheck()
