"""The hosted pages a customer's browser sees, in a real headless Chromium: the sandbox's 3-D
Secure challenge, from the app's redirect to the bank page and back to the app's return URL."""

import shutil

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from conftest import client_for_customer
from payments.models import Payment
from payments.services import gateway_account_create
from payments.tests.factories import CustomerFactory
from plans.tests.factories import PlanFactory

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="Chromium and chromedriver are not installed (.ci/run installs them)"
)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def returns_to_the_live_server(request, settings):
    """The app the customer goes back to is a page of the live test server, over plain http: allowed
    only while DEBUG, at a configured origin (API.md `return_url`)."""
    if "live_server" in request.fixturenames:
        settings.DEBUG = True
        settings.RETURN_URL_ALLOWED_ORIGINS = [request.getfixturevalue("live_server").url.lower()]


def _purchase_needing_3ds(live_server_url: str):
    gateway_account_create(provider="sandbox", display_name="Sandbox")
    plan = PlanFactory(
        code="pass", kind="one_off", interval=None, access_days=2, prices=[{"amount": "4.99", "currency": "EUR"}]
    )
    customer = CustomerFactory(country="DE", currency="EUR")
    client = client_for_customer(customer)
    gateway = client.get("/api/v1/me/gateway").json()
    token = (
        APIClient()
        .post(
            "/sandbox/v1/tokens",
            {
                "publishable_key": gateway["client"]["publishable_key"],
                "card": {"number": "4000002760003184", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
            },
            format="json",
        )
        .json()["token"]
    )
    method = client.post("/api/v1/me/payment-methods", {"gateway": gateway["id"], "token": token}, format="json").json()
    body = client.post(
        "/api/v1/me/checkout",
        {"plan": plan.id, "payment_method": method["id"], "return_url": f"{live_server_url}/healthz"},
        format="json",
    ).json()
    assert body["payment"]["status"] == "requires_action"
    return client, body


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("button", "expected"), [("Approve", "succeeded"), ("Fail", "failed")])
def test_the_3ds_page_works_in_a_real_browser_and_returns_to_the_app(live_server, browser, button, expected):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    with override_settings(SITE_URL=live_server.url):
        client, body = _purchase_needing_3ds(live_server.url)
        browser.get(body["payment"]["next_action"]["url"])
        assert "4.99 EUR" in browser.find_element(By.CLASS_NAME, "amount").text
        assert "3184" in browser.page_source  # the card's last four, never its number
        browser.find_element(By.XPATH, f"//button[normalize-space()='{button}']").click()
        WebDriverWait(browser, 15).until(expected_conditions.url_contains("/healthz"))
        assert f"payment={body['payment']['id']}" in browser.current_url
        assert Payment.objects.get(pk=body["payment"]["id"]).status == expected
        assert client.get("/api/v1/me/entitlements").json()["entitled"] is (expected == "succeeded")


def test_the_api_docs_render_in_a_browser_offline_from_our_own_static_files(browser, live_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = APIClient().get("/api/docs/").content.decode()
    assert "cdn" not in page.lower() and "https://" not in page  # nothing loaded from elsewhere

    browser.get(f"{live_server.url}/api/docs/")
    WebDriverWait(browser, 20).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))

    operations = browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    assert any("/api/v1/me/checkout" in element.text for element in operations)
