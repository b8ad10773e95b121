"""VAT ids verified with VIES: the REST client against a VIES-shaped server on loopback
(payments/tests/vies_double.py), the verification the worker runs after a change commits, the
re-check of old confirmations, and what erasure leaves."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from conftest import audit_text
from integrations.kernel.audit import audit_context
from integrations.kernel.models import AuditEvent
from integrations.models import Event
from payments.models import Customer
from payments.services import customer_anonymise, customer_tax_id_verify, customer_tax_ids_recheck
from payments.tax.vies import NO_ANSWER, VatCheck, VatChecker, ViesClient, vies_answer
from payments.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers"
Status = Customer.TaxIdStatus


def _business(number="FR40303265045", *, status=Status.UNVERIFIED, verified_days_ago=None, **extra) -> Customer:
    verified_at = timezone.now() - timedelta(days=verified_days_ago) if verified_days_ago is not None else None
    return CustomerFactory(
        country=extra.pop("country", "FR"),
        tax_id=number,
        tax_id_country={"EL": "GR", "XI": "GB"}.get(number[:2], number[:2]),
        tax_id_status=status,
        tax_id_verified_at=verified_at,
        business_name="ACME SA",
        **extra,
    )


# --- The REST client


def test_the_client_asks_vies_with_the_country_code_and_the_number_apart(vies):
    vies.register("FR40303265045", name="ACME SA", address="1 RUE DE LA PAIX\n75002 PARIS")

    answer = ViesClient().check("FR", "40303265045")

    assert answer == VatCheck(valid=True, name="ACME SA", address="1 RUE DE LA PAIX 75002 PARIS")
    assert vies.requests == [{"countryCode": "FR", "vatNumber": "40303265045"}]


def test_the_client_reads_an_unregistered_number_as_invalid(vies):
    assert ViesClient().check("DE", "136695976") == VatCheck(valid=False)


@pytest.mark.parametrize("mode", ["ms_unavailable", "server_error", "garbage"])
def test_the_client_reads_a_failure_of_vies_as_no_answer(vies, mode):
    vies.register("FR40303265045")
    vies.mode = mode

    assert ViesClient().check("FR", "40303265045") == NO_ANSWER


def test_the_client_gives_up_after_its_timeout_with_no_answer(vies):
    vies.register("FR40303265045")
    vies.mode = "hold"  # the answer never comes in time

    assert ViesClient(timeout=0.2).check("FR", "40303265045") == NO_ANSWER


def test_the_client_reads_an_unreachable_vies_as_no_answer(vies):
    url = vies.url
    vies.stop()  # nothing listens there any more

    assert ViesClient(url=url).check("FR", "40303265045") == NO_ANSWER


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"valid": True, "name": "---", "address": "---"}, VatCheck(valid=True)),
        ({"valid": False, "userError": "INVALID"}, VatCheck(valid=False)),
        ({"valid": False, "userError": "MS_MAX_CONCURRENT_REQ"}, NO_ANSWER),
        ({"valid": False, "userError": "TIMEOUT"}, NO_ANSWER),
        ({"actionSucceed": False, "errorWrappers": [{"error": "GLOBAL_MAX_CONCURRENT_REQ"}]}, NO_ANSWER),
        ({"isValid": True, "name": "X"}, VatCheck(valid=True, name="X")),
        ({"valid": "yes"}, NO_ANSWER),
        ([], NO_ANSWER),
    ],
)
def test_vies_answers_are_read_strictly(data, expected):
    assert vies_answer(data) == expected


# --- The verification


def test_a_registered_id_becomes_verified_and_customer_updated_says_so(vies):
    vies.register("FR40303265045")
    customer = _business()

    customer_tax_id_verify(customer_id=customer.id)

    customer.refresh_from_db()
    assert customer.tax_id_status == Status.VERIFIED
    assert timezone.now() - customer.tax_id_verified_at < timedelta(minutes=1)
    event = Event.objects.get(type="customer.updated")
    assert event.payload["changed"] == ["tax_id_status"]
    assert event.payload["previous"] == {"tax_id_status": "unverified"}
    assert event.payload["customer"]["tax_id_status"] == "verified"


def test_an_unregistered_id_becomes_invalid(vies):
    customer = _business("DE136695976", country="DE")

    customer_tax_id_verify(customer_id=customer.id)

    customer.refresh_from_db()
    assert (customer.tax_id_status, customer.tax_id_verified_at) == (Status.INVALID, None)
    assert Event.objects.get(type="customer.updated").payload["customer"]["tax_id_status"] == "invalid"


@pytest.mark.parametrize("mode", ["hold", "server_error", "ms_unavailable"])
def test_no_answer_leaves_a_new_id_unverified_and_says_nothing(vies, settings, mode):
    settings.VIES_TIMEOUT_SECONDS = 0.2
    vies.register("FR40303265045")
    vies.mode = mode
    customer = _business()

    customer_tax_id_verify(customer_id=customer.id)

    customer.refresh_from_db()
    assert (customer.tax_id_status, customer.tax_id_verified_at) == (Status.UNVERIFIED, None)
    assert not Event.objects.filter(type="customer.updated").exists()


@pytest.mark.parametrize("number", ["GB980780684", "CHE116281710", "NO974760673MVA", "AU51824753556"])
def test_ids_vies_does_not_know_stay_unverified_without_asking(vies, number):
    customer = _business(number)

    customer_tax_id_verify(customer_id=customer.id)

    customer.refresh_from_db()
    assert customer.tax_id_status == Status.UNVERIFIED
    assert vies.requests == []


def test_a_greek_id_is_asked_with_vies_code_el(vies):
    vies.register("EL094259216")
    customer = _business("EL094259216", country="GR")

    customer_tax_id_verify(customer_id=customer.id)

    assert vies.requests == [{"countryCode": "EL", "vatNumber": "094259216"}]
    customer.refresh_from_db()
    assert (customer.tax_id_status, customer.tax_id_country) == (Status.VERIFIED, "GR")


class _ChangesTheIdWhileAsked(VatChecker):
    """VIES answers yes, but meanwhile an operator changed the customer's id."""

    def check(self, country_code, number):
        Customer.objects.filter(tax_id=country_code + number).update(tax_id="BE0403170701", tax_id_country="BE")
        return VatCheck(valid=True)


def test_an_answer_about_an_id_changed_meanwhile_is_dropped(settings):
    settings.VAT_ID_CHECKER = f"{__name__}._ChangesTheIdWhileAsked"
    customer = _business()

    customer_tax_id_verify(customer_id=customer.id)

    customer.refresh_from_db()
    assert (customer.tax_id, customer.tax_id_status) == ("BE0403170701", Status.UNVERIFIED)


class _Broken(VatChecker):
    def check(self, country_code, number):
        raise RuntimeError("a plug-in's bug")


def test_a_checker_that_raises_counts_as_no_answer(settings):
    settings.VAT_ID_CHECKER = f"{__name__}._Broken"
    customer = _business()

    customer_tax_id_verify(customer_id=customer.id)

    customer.refresh_from_db()
    assert customer.tax_id_status == Status.UNVERIFIED


def test_verifying_twice_is_harmless_and_says_it_once(vies):
    vies.register("FR40303265045")
    customer = _business()

    customer_tax_id_verify(customer_id=customer.id)
    customer_tax_id_verify(customer_id=customer.id)

    customer.refresh_from_db()
    assert customer.tax_id_status == Status.VERIFIED
    assert Event.objects.filter(type="customer.updated").count() == 1


def test_an_erased_customer_or_one_without_an_id_is_not_asked_about(vies):
    consumer = CustomerFactory()
    erased = _business(erased_at=timezone.now())

    customer_tax_id_verify(customer_id=consumer.id)
    customer_tax_id_verify(customer_id=erased.id)
    customer_tax_id_verify(customer_id="cus_unknown")

    assert vies.requests == []


# --- After commit, through the API


def test_the_worker_verifies_a_new_customers_id_after_the_create_commits(
    operator_client, vies, django_capture_on_commit_callbacks
):
    vies.register("FR40303265045")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = operator_client.post(
            URL,
            {"external_id": "biz-1", "email": "b@acme.example", "country": "FR", "tax_id": "FR40303265045"},
            format="json",
        )

    assert response.json()["tax_id_status"] == "unverified"  # answered before VIES was asked
    assert len(callbacks) == 1
    assert vies.requests == [{"countryCode": "FR", "vatNumber": "40303265045"}]
    assert operator_client.get(f"{URL}/{response.json()['id']}").json()["tax_id_status"] == "verified"


def test_nothing_is_asked_before_the_change_commits(operator_client, vies, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        operator_client.post(
            URL,
            {"external_id": "biz-1", "email": "b@acme.example", "country": "FR", "tax_id": "FR40303265045"},
            format="json",
        )

    assert len(callbacks) == 1
    assert vies.requests == []


def test_a_changed_id_is_verified_again_after_the_patch_commits(
    operator_client, vies, django_capture_on_commit_callbacks
):
    vies.register("BE0403170701")
    customer = _business(status=Status.VERIFIED, verified_days_ago=10)

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.patch(f"{URL}/{customer.id}", {"tax_id": "BE0403170701"}, format="json")

    assert response.json()["tax_id_status"] == "unverified"
    customer.refresh_from_db()
    assert (customer.tax_id, customer.tax_id_status) == ("BE0403170701", Status.VERIFIED)
    statuses = [e.payload["customer"]["tax_id_status"] for e in Event.objects.filter(type="customer.updated")]
    assert sorted(statuses) == ["unverified", "verified"]


def test_a_patch_that_leaves_the_id_alone_asks_nothing(operator_client, vies, django_capture_on_commit_callbacks):
    customer = _business(status=Status.VERIFIED, verified_days_ago=10)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        operator_client.patch(f"{URL}/{customer.id}", {"name": "Other"}, format="json")

    assert callbacks == []
    assert vies.requests == []


def test_a_gb_id_is_not_sent_to_vies_after_commit(operator_client, vies, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = operator_client.post(
            URL,
            {"external_id": "biz-1", "email": "b@acme.example", "country": "GB", "tax_id": "GB980780684"},
            format="json",
        )

    assert callbacks == []
    assert response.json()["tax_id_status"] == "unverified"
    assert vies.requests == []


# --- The six-month re-check


def test_the_recheck_asks_again_about_old_confirmations_and_unanswered_ids_only(vies, settings):
    for number in ("FR40303265045", "DE136695976", "IT00743110157", "BE0403170701"):
        vies.register(number)
    old = _business("FR40303265045", status=Status.VERIFIED, verified_days_ago=settings.TAX_ID_RECHECK_DAYS + 1)
    recent = _business("DE136695976", status=Status.VERIFIED, verified_days_ago=30, country="DE")
    unanswered = _business("IT00743110157", country="IT")
    invalid = _business("BE0403170701", status=Status.INVALID, country="BE")
    gb = _business("GB980780684", country="GB")
    erased = _business("FR40303265045", status=Status.VERIFIED, verified_days_ago=400, erased_at=timezone.now())

    assert customer_tax_ids_recheck() == 2

    asked = sorted(request["countryCode"] + request["vatNumber"] for request in vies.requests)
    assert asked == ["FR40303265045", "IT00743110157"]
    for customer in (old, recent, unanswered, invalid, gb, erased):
        customer.refresh_from_db()
    assert timezone.now() - old.tax_id_verified_at < timedelta(minutes=1)  # confirmed again, from today
    assert (old.tax_id_status, unanswered.tax_id_status) == (Status.VERIFIED, Status.VERIFIED)
    assert (recent.tax_id_status, invalid.tax_id_status, gb.tax_id_status) == (
        Status.VERIFIED,
        Status.INVALID,
        Status.UNVERIFIED,
    )
    assert erased.tax_id_status == Status.VERIFIED  # erased: left as it was, nobody to tax


def test_a_recheck_that_vies_refuses_makes_the_id_invalid(vies, settings):
    customer = _business(status=Status.VERIFIED, verified_days_ago=settings.TAX_ID_RECHECK_DAYS + 1)

    customer_tax_ids_recheck()

    customer.refresh_from_db()
    assert (customer.tax_id_status, customer.tax_id_verified_at) == (Status.INVALID, None)
    event = Event.objects.get(type="customer.updated")
    assert (event.payload["previous"], event.payload["customer"]["tax_id_status"]) == (
        {"tax_id_status": "verified"},
        "invalid",
    )


def test_a_silent_vies_keeps_a_due_confirmation_through_the_grace_period(vies, settings):
    vies.mode = "ms_unavailable"
    due = _business(status=Status.VERIFIED, verified_days_ago=settings.TAX_ID_RECHECK_DAYS + 5)
    lapsed = _business(status=Status.VERIFIED, verified_days_ago=settings.TAX_ID_RECHECK_DAYS + 31)

    customer_tax_ids_recheck()

    due.refresh_from_db()
    lapsed.refresh_from_db()
    assert due.tax_id_status == Status.VERIFIED  # asked again at the next run
    assert (lapsed.tax_id_status, lapsed.tax_id_verified_at) == (Status.UNVERIFIED, None)


# --- The audit log and erasure


def test_the_audit_log_records_that_the_id_changed_but_not_the_id(operator_client, vies):
    customer = CustomerFactory(country="FR")

    operator_client.patch(
        f"{URL}/{customer.id}", {"tax_id": "FR40303265045", "business_name": "ACME SA"}, format="json"
    )

    entry = AuditEvent.objects.get(action="customer.updated", object_id=customer.id)
    assert entry.changes["tax_id"] == [None, "[redacted]"]
    assert entry.changes["business_name"] == [None, "[redacted]"]
    assert entry.changes["tax_id_country"] == ["", "FR"]
    assert "40303265045" not in audit_text()
    assert "ACME" not in audit_text()


def test_the_systems_verification_is_audited_with_the_status_it_set(vies):
    vies.register("FR40303265045")
    customer = _business()

    with audit_context(actor="system"):
        customer_tax_id_verify(customer_id=customer.id)

    entry = AuditEvent.objects.get(action="customer.updated", object_id=customer.id)
    assert entry.actor_type == "system"
    assert entry.changes["tax_id_status"] == ["unverified", "verified"]


def test_erasure_clears_the_tax_id_and_business_name_everywhere():
    customer = _business(status=Status.VERIFIED, verified_days_ago=3)
    from payments.services import customer_update

    customer_update(customer=customer, name="Ann Other")  # an event that holds the tax id

    with transaction.atomic():
        customer_anonymise(customer=customer)

    customer.refresh_from_db()
    assert (customer.tax_id, customer.business_name, customer.tax_id_country) == (None, "", "")
    assert (customer.tax_id_status, customer.tax_id_verified_at) == (Status.UNVERIFIED, None)
    for event in Event.objects.filter(customer_id=customer.id):
        assert "FR40303265045" not in str(event.payload)
        assert "ACME SA" not in str(event.payload)
