"""The customer's billing address under data protection (API.md "Data protection"): the export
holds it, erasure blanks it and leaves it in no event."""

import json

import pytest

from integrations.models import Event
from payments.services import customer_create, customer_update

pytestmark = pytest.mark.django_db

ADDRESS = "Kastanienallee 12\n10435 Berlin"


@pytest.fixture
def moved(db):
    """A customer who gave an address and then moved: both addresses are in their events."""
    customer = customer_create(
        external_id="moving", email="m@example.com", country="DE", billing_address="Old Street 1\n10115 Berlin"
    )
    return customer_update(customer=customer, billing_address=ADDRESS)


def test_the_export_holds_the_billing_address(operator_client, moved):
    response = operator_client.get(f"/api/v1/customers/{moved.id}/export")

    assert response.status_code == 200, response.content
    assert response.json()["customer"]["billing_address"] == ADDRESS


def test_erasure_blanks_the_billing_address_everywhere(operator_client, moved):
    response = operator_client.post(f"/api/v1/customers/{moved.id}/erase", format="json")

    assert response.status_code == 200, response.content
    moved.refresh_from_db()
    assert moved.billing_address == ""
    assert operator_client.get(f"/api/v1/customers/{moved.id}").json()["billing_address"] is None
    exported = json.dumps(operator_client.get(f"/api/v1/customers/{moved.id}/export").json())
    assert "Kastanienallee" not in exported and "Old Street" not in exported
    for event in Event.objects.filter(customer_id=moved.id):
        assert "Kastanienallee" not in json.dumps(event.payload), event.type
        assert "Old Street" not in json.dumps(event.payload), event.type
