"""Fixtures shared by the payments app's tests: a client logged in as a superuser (admin tests), a VIES double."""

import pytest
from django.test import Client

from conftest import sign_in_verified


@pytest.fixture
def superuser_client(django_user_model):
    user = django_user_model.objects.create_superuser(username="root", email="root@example.com", password="pw")
    client = Client()
    sign_in_verified(client, user)
    return client


@pytest.fixture
def vies(settings):
    """A VIES-shaped server on loopback (payments/tests/vies_double.py) that the VAT id checks ask,
    with a short client timeout so that an answer that never comes fails fast."""
    from payments.tests.vies_double import ViesDouble

    double = ViesDouble().start()
    settings.VIES_URL = double.url
    settings.VIES_TIMEOUT_SECONDS = 0.5
    settings.VAT_ID_CHECKER = "payments.tax.vies.ViesClient"
    yield double
    double.stop()
