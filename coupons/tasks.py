"""django-q2 entry points for coupons: thin wrappers around the services."""

from coupons.generation import codes_generate
from coupons.models import Coupon


def codes_generate_task(*, coupon_id: str, count: int) -> int:
    """A large generation, queued by the API after its request committed."""
    return codes_generate(coupon=Coupon.objects.get(pk=coupon_id), count=count)
