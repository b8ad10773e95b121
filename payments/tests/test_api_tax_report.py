"""GET /api/v1/tax/report (API.md "Tax"): `{from, to, rows}` with money objects, or CSV with
`format=csv`; the `read` scope reaches it; a bad period is a 400 naming the field, never a 5xx."""

import csv
import io

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from conftest import client_for_customer
from integrations.kernel.api_keys import api_key_create
from payments.tax.api.serializers import TaxReportRowSerializer, TaxReportSerializer
from payments.tests.tax_report_helpers import at, february_sales, money, refunded

pytestmark = pytest.mark.django_db

URL = "/api/v1/tax/report"
FEBRUARY = {"from": "2027-02-01", "to": "2027-02-28"}


@pytest.fixture
def quarter(settings):
    return february_sales(settings)


def _client(*scopes) -> APIClient:
    raw, _ = api_key_create(name="tax-report-tests", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def _error(response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["param"]


def test_the_report_answers_the_rows_of_the_period_with_money_objects(quarter):
    response = _client("read").get(URL, FEBRUARY)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["from"], body["to"]) == ("2027-02-01", "2027-02-28")
    assert body["rows"] == [
        {
            "country": "DE",
            "subdivision": None,
            "rate": "0.19",
            "currency": "EUR",
            "reverse_charge": False,
            "taxable": money("16.78"),
            "tax": money("3.20"),
            "credited_taxable": money("4.20"),
            "credited_tax": money("0.80"),
            "net_taxable": money("12.58"),
            "net_tax": money("2.40"),
        },
        {
            "country": "FR",
            "subdivision": None,
            "rate": "0",
            "currency": "EUR",
            "reverse_charge": True,
            "taxable": money("9.99"),
            "tax": money("0.00"),
            "credited_taxable": money("0.00"),
            "credited_tax": money("0.00"),
            "net_taxable": money("9.99"),
            "net_tax": money("0.00"),
        },
        {
            "country": "FR",
            "subdivision": None,
            "rate": "0.2",
            "currency": "EUR",
            "reverse_charge": False,
            "taxable": money("16.66"),
            "tax": money("3.32"),
            "credited_taxable": money("0.00"),
            "credited_tax": money("0.00"),
            "net_taxable": money("16.66"),
            "net_tax": money("3.32"),
        },
    ]


def test_a_period_without_taxed_sales_has_no_rows(quarter):
    body = _client("read").get(URL, {"from": "2026-01-01", "to": "2026-12-31"}).json()

    assert body == {"from": "2026-01-01", "to": "2026-12-31", "rows": []}


def test_format_csv_answers_the_rows_as_csv_with_a_header(quarter):
    response = _client("read").get(URL, {**FEBRUARY, "format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert 'filename="tax-report-2027-02-01-2027-02-28.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        [
            "country", "subdivision", "rate", "currency", "reverse_charge",
            "taxable", "tax", "credited_taxable", "credited_tax", "net_taxable", "net_tax",
        ],
        ["DE", "", "0.19", "EUR", "false", "16.78", "3.20", "4.20", "0.80", "12.58", "2.40"],
        ["FR", "", "0", "EUR", "true", "9.99", "0.00", "0.00", "0.00", "9.99", "0.00"],
        ["FR", "", "0.2", "EUR", "false", "16.66", "3.32", "0.00", "0.00", "16.66", "3.32"],
    ]  # fmt: skip


def test_negative_net_amounts_stay_numbers_in_the_csv(quarter):
    refunded(quarter.german, amount="9.99", issued_at=at(2027, 4, 2, 9))

    response = _client("read").get(URL, {"from": "2027-04-01", "to": "2027-04-30", "format": "csv"})

    text = b"".join(response.streaming_content).decode()
    assert text.splitlines()[1] == "DE,,0.19,EUR,false,0.00,0.00,8.39,1.60,-8.39,-1.60"  # no leading '


@pytest.mark.parametrize(
    ("query", "code", "param"),
    [
        ({"to": "2027-02-28"}, "parameter_missing", "from"),
        ({"from": "2027-02-01"}, "parameter_missing", "to"),
        ({"from": "", "to": "2027-02-28"}, "parameter_missing", "from"),
        ({"from": "2027-02-30", "to": "2027-03-31"}, "parameter_invalid", "from"),
        ({"from": "01/02/2027", "to": "2027-03-31"}, "parameter_invalid", "from"),
        ({"from": "2027-02-01", "to": "99999-12-31"}, "parameter_invalid", "to"),
        ({"from": "2027-02-01", "to": "2027-02-28\x00"}, "parameter_invalid", "to"),
        ({"from": "2027-03-01", "to": "2027-02-28"}, "parameter_invalid", "to"),
        ({**FEBRUARY, "format": "xml"}, "parameter_invalid", "format"),
        ({"from": "2027-03-01", "to": "2027-02-28", "format": "csv"}, "parameter_invalid", "to"),
    ],
)
def test_a_bad_query_is_a_400_naming_the_field(query, code, param):
    response = _client("read").get(URL, query)

    assert _error(response) == (400, code, param)
    assert response["Content-Type"] == "application/json"


def test_the_read_scope_reaches_it_and_other_credentials_do_not(customer):
    assert _client("read").get(URL, FEBRUARY).status_code == 200
    assert _client("all").get(URL, FEBRUARY).status_code == 200
    assert _error(_client("tax:write").get(URL, FEBRUARY))[:2] == (403, "insufficient_scope")
    assert _error(client_for_customer(customer).get(URL, FEBRUARY))[0] == 403
    assert APIClient().get(URL, FEBRUARY).status_code == 401


def test_the_report_is_read_only(quarter):
    assert _client("all").post(URL, FEBRUARY, format="json").status_code == 405


def test_the_openapi_schema_describes_the_route_as_it_answers(quarter):
    schema = SchemaGenerator().get_schema(request=None, public=True)

    operation = schema["paths"]["/api/v1/tax/report"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["from"]["required"] and parameters["to"]["required"]
    assert parameters["from"]["schema"] == {"type": "string", "format": "date"}
    assert set(parameters["format"]["schema"]["enum"]) == {"json", "csv"}
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert "400" in operation["responses"]
    body = _client("read").get(URL, FEBRUARY).json()
    assert set(body) == set(TaxReportSerializer().fields) == {"from", "to", "rows"}
    assert set(body["rows"][0]) == set(TaxReportRowSerializer().fields)
    component = schema["components"]["schemas"]["TaxReport"]
    assert set(component["properties"]) == {"from", "to", "rows"}
