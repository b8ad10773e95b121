"""`manage.py generate_coupon_codes CAMPAIGN_ID --count N`: unique codes for a bulk campaign."""

import sys
import time

from django.core.management.base import CommandError

from coupons.models import Coupon
from coupons.services.generation import codes_generate
from integrations.kernel.commands import AuditedCommand
from integrations.kernel.errors import DomainError


class Command(AuditedCommand):
    help = "Generate N unique codes for a bulk coupon campaign (progress on stderr, the total on stdout)."

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", help="The coupon's id (cpn_...).")
        parser.add_argument("--count", type=int, required=True, help="How many new codes (1 to 1,000,000).")

    def handle(self, *args, campaign_id: str, count: int, **options):
        coupon = Coupon.objects.filter(pk=campaign_id).first()
        if coupon is None:
            raise CommandError(f"No coupon '{campaign_id}'.")
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            width = 30
            filled = width * done // total
            self.stderr.write(
                f"[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} ({time.perf_counter() - started:.1f} s)"
            )
            sys.stderr.flush()

        try:
            generated = codes_generate(coupon=coupon, count=count, progress=progress)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        self.stdout.write(f"generated {generated} codes for {coupon.id}")
