"""django-q2 entry points: thin, safe to run twice."""

from payments import services


def customer_tokens_purge() -> int:
    return services.customer_tokens_purge()
