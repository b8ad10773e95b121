"""CSV exports of codes, from the API and the admin, neutralise cells a spreadsheet would run as a
formula (API.md "Coupons, added"): a customer's external_id is the customer's own text."""

import csv
import io

import pytest

from conftest import sign_in_verified
from coupons.models import CouponCode
from coupons.services import coupon_create, coupon_redeem
from coupons.services.generation import codes_generate
from integrations.kernel.csv_export import csv_cell
from payments.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

HOSTILE = ['=HYPERLINK("http://evil.example/","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


@pytest.fixture
def redeemed_by_hostile_ids():
    coupon = coupon_create(
        name="Mailing",
        kind="bulk",
        code_template="MAIL-********",
        discount={"type": "percent", "percent_off": "10"},
        redemption_target="account",
        max_redemptions_per_customer=1,
    )
    codes_generate(coupon=coupon, count=len(HOSTILE) + 1)
    for external_id, code in zip(HOSTILE, CouponCode.objects.filter(coupon=coupon), strict=False):
        coupon_redeem(code=code.code, customer=CustomerFactory(external_id=external_id), target="account")
    return coupon


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))


def _assert_neutralised(rows: list[list[str]]) -> None:
    assert rows[0] == ["code", "state", "redeemed_by", "redeemed_at"]
    redeemed_by = sorted(row[2] for row in rows[1:] if row[2])
    assert redeemed_by == sorted("'" + value for value in HOSTILE)
    assert all(not row[0].startswith("'") for row in rows[1:])  # our own codes are left as they are


def test_the_api_export_neutralises_formula_cells(operator_client, redeemed_by_hostile_ids):
    response = operator_client.get(f"/api/v1/coupons/{redeemed_by_hostile_ids.id}/codes?format=csv")

    assert response.status_code == 200
    _assert_neutralised(_rows(response))


def test_the_admin_export_neutralises_formula_cells(client, django_user_model, redeemed_by_hostile_ids):
    sign_in_verified(client, django_user_model.objects.create_superuser("admin", "a@example.com", "secret-password"))

    response = client.post(
        "/admin/coupons/coupon/", {"action": "export_csv", "_selected_action": [redeemed_by_hostile_ids.pk]}
    )

    assert response.status_code == 200
    _assert_neutralised(_rows(response))


@pytest.mark.parametrize(
    ("value", "written"),
    [("=1+1", "'=1+1"), ("plain", "plain"), ("", ""), (-1, -1), ("MAIL-ABC", "MAIL-ABC"), (None, None)],
)
def test_only_text_that_starts_like_a_formula_gets_a_leading_quote(value, written):
    assert csv_cell(value) == written
