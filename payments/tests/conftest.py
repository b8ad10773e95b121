"""Fixtures shared by the payments app's admin tests: a client logged in as a superuser."""

import pytest
from django.test import Client

from conftest import sign_in_verified


@pytest.fixture
def superuser_client(django_user_model):
    user = django_user_model.objects.create_superuser(username="root", email="root@example.com", password="pw")
    client = Client()
    sign_in_verified(client, user)
    return client
