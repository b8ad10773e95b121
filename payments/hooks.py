"""The one extension point through which higher apps learn what happened to money they asked for.

`payments` knows invoices and charges, not what they were for. Higher apps (plans) register
handlers here in their AppConfig.ready(); payments calls them inside its own transaction, so the
subscription or the access moves on atomically with the invoice.

- "invoices_paid"(paid): invoices were settled, one or a batch; `paid` is a list of (invoice,
  payment) pairs, payment None for a zero total.
- "invoice_payment_failed"(invoice, payment): a charge for the invoice failed or was abandoned.
- "payment_refunded"(payment, refund, fully_refunded): money went back to the customer.
- "payment_method_detach_check"(payment_method): raise a DomainError to refuse removing a card.
- "payment_method_default_changed"(payment_method): the customer has a new default card.
"""

from collections import defaultdict
from collections.abc import Callable

_handlers: dict[str, list[Callable]] = defaultdict(list)
HOOKS = (
    "invoices_paid",
    "invoice_payment_failed",
    "payment_refunded",
    "payment_method_detach_check",
    "payment_method_default_changed",
)


def register(hook: str, handler: Callable) -> None:
    if hook not in HOOKS:
        raise ValueError(f"Unknown hook {hook!r}")
    if handler not in _handlers[hook]:
        _handlers[hook].append(handler)


def run(hook: str, **kwargs) -> None:
    for handler in _handlers[hook]:
        handler(**kwargs)
