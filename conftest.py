"""Fixtures shared by every app's tests: API clients for an operator and for a customer; an empty cache."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from integrations.kernel.api_keys import api_key_create


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (run `make test`)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with an empty cache: throttles and failed-attempt counters (all test
    clients share one address) do not carry from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_key(db):
    raw, _ = api_key_create(name="tests")
    return raw


@pytest.fixture
def operator_client(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture
def anon_client():
    return APIClient()


def client_for_customer(customer) -> APIClient:
    from payments.services import customer_token_create

    raw, _ = customer_token_create(customer=customer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def customer(db):
    from payments.tests.factories import CustomerFactory

    return CustomerFactory()


@pytest.fixture
def customer_client(customer):
    return client_for_customer(customer)
