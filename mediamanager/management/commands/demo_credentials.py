import secrets
from base64 import b32encode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from integrations.kernel.api_keys import api_key_create, api_key_revoke
from integrations.kernel.commands import AuditedCommand
from integrations.kernel.models import ApiKey
from mediamanager.staff_security import staff_demo_device_create

DEMO_USERNAME = "operator"
DEMO_KEY_NAME = "demo"


class Command(AuditedCommand):
    help = (
        "For `make run`: a demo operator login and a demo API key, both new on every run and printed once. "
        "In DEBUG only, also the demo operator's authenticator-app secret (its second factor)."
    )

    @transaction.atomic
    def handle(self, *args, **options):
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": "operator@localhost"}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        for key in ApiKey.objects.filter(name=DEMO_KEY_NAME, revoked_at__isnull=True):
            api_key_revoke(api_key=key)
        raw, _ = api_key_create(name=DEMO_KEY_NAME)
        self.stdout.write(f"  admin login : {DEMO_USERNAME} / {password}")
        if settings.DEBUG:
            device = staff_demo_device_create(user=user)
            self.stdout.write(f"  2nd factor  : authenticator app secret {b32encode(device.bin_key).decode()}")
            self.stdout.write(f"                (or add this to the app: {device.config_url})")
        else:
            self.stdout.write(
                "  2nd factor  : at the first sign-in the admin asks you to set up an authenticator app "
                "(QR code or otpauth:// link) or a passkey"
            )
        self.stdout.write(f"  API key     : {raw}")
