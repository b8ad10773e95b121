import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from integrations.kernel.api_keys import api_key_create, api_key_revoke
from integrations.kernel.commands import AuditedCommand
from integrations.kernel.models import ApiKey

DEMO_USERNAME = "operator"
DEMO_KEY_NAME = "demo"


class Command(AuditedCommand):
    help = "For `make run`: a demo operator login and a demo API key, both new on every run and printed once."

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
        self.stdout.write(f"  API key     : {raw}")
