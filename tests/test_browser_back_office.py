"""The back office in a real headless Chromium, as each team uses it: support opens a customer's
page (subscriptions, payments, cards as brand and last four), runs a support action from it, and
is offered no refund action and no gateway credentials; marketing creates a bulk campaign in the
admin, generates its codes and exports them; an administrator rehearses a gateway outage with the
sandbox's drill and sees the accounts' health."""

import pytest
from django.conf import settings
from django.contrib.admin.utils import quote
from django.test import Client

from conftest import sign_in_verified, staff_in_role
from coupons.models import Coupon
from payments.tests.factories import sandbox_account
from plans.models import Subscription
from plans.tests.customer_story import customer_story
from plans.tests.factories import PlanFactory
from tests import test_browser_hosted_pages as hosted_pages

CHROMIUM, CHROMEDRIVER = hosted_pages.CHROMIUM, hosted_pages.CHROMEDRIVER
browser = hosted_pages.browser  # the hosted pages' headless Chromium fixture, with its flags

pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER), reason="Chromium and chromedriver are not installed (.ci/run installs them)"
    ),
    pytest.mark.django_db(transaction=True),
]
WAIT_SECONDS = 15


@pytest.fixture(autouse=True)
def plain_http_cookies(settings):
    """The live server speaks plain http: its session and CSRF cookies must not be Secure-only."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


def browser_sign_in(driver, live_server, user) -> None:
    """The one way these tests sign a staff member in: a session made by Django's test client past
    the second factor (sign_in_verified; tests/test_browser_staff_sign_in.py signs in for real),
    its cookie handed to the browser."""
    client = sign_in_verified(Client(), user)
    driver.get(f"{live_server.url}/healthz")  # a page of the site first, so the cookie is the site's
    driver.add_cookie(
        {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "path": "/"}
    )


def _staff(django_user_model, role: str):
    return staff_in_role(role)


def _wait(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS)


def _open(driver, url: str) -> None:
    driver.get(url)
    _wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _click_and_wait(driver, element) -> None:
    """Click something that loads a new page, and wait until it has."""
    from selenium.webdriver.support import expected_conditions

    element.click()
    _wait(driver).until(expected_conditions.staleness_of(element))


def _messages(driver) -> str:
    from selenium.webdriver.common.by import By

    return " ".join(element.text for element in driver.find_elements(By.CSS_SELECTOR, "ul.messagelist li"))


# --- Support ------------------------------------------------------------------------------------


def test_support_sees_a_customers_subscriptions_payments_and_cards_and_no_refund_action(
    live_server, browser, django_user_model
):
    from selenium.webdriver.common.by import By

    account = sandbox_account()
    story = customer_story(account)
    browser_sign_in(browser, live_server, _staff(django_user_model, "support"))

    _open(browser, f"{live_server.url}/admin/payments/customer/{story.customer.pk}/change/")

    section = {
        key: browser.find_element(By.ID, f"customer-{key}").text for key in ("subscriptions", "payments", "cards")
    }
    assert story.subscriptions[0].pk in section["subscriptions"] and "active" in section["subscriptions"]
    assert all(payment.pk in section["payments"] for payment in story.payments)
    card = story.cards[0]
    assert card.brand in section["cards"] and "4242" in section["cards"]
    page = browser.page_source
    assert card.fingerprint not in page and card.gateway_reference not in page
    assert "refund_in_full" not in page
    actions = [
        o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#subscription-actions-form option")
    ]
    assert {"cancel_now", "pause", "resume", "extend", "retry_now"} <= set(actions)

    _open(browser, f"{live_server.url}/admin/payments/payment/")
    offered = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "select[name=action] option")]
    assert "refund_in_full" not in offered

    _open(browser, f"{live_server.url}/admin/")
    assert "Gateway accounts" not in browser.find_element(By.ID, "content-main").text
    assert not browser.find_elements(By.CSS_SELECTOR, 'a[href*="/admin/payments/gatewayaccount/"]')
    for url in (f"/admin/payments/gatewayaccount/{account.pk}/change/", "/admin/payments/gatewayaccount/"):
        _open(browser, f"{live_server.url}{url}")
        assert "403 Forbidden" in browser.page_source, url
        assert account.credentials["publishable_key"] not in browser.page_source


def test_support_pauses_a_subscription_from_the_customer_page(live_server, browser, django_user_model):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    story = customer_story(sandbox_account())
    subscription = story.subscriptions[0]
    browser_sign_in(browser, live_server, _staff(django_user_model, "support"))
    _open(browser, f"{live_server.url}/admin/payments/customer/{story.customer.pk}/change/")

    browser.find_element(By.CSS_SELECTOR, f'input[name="_selected_action"][value="{subscription.pk}"]').click()
    Select(browser.find_element(By.CSS_SELECTOR, "#subscription-actions-form select[name=action]")).select_by_value(
        "pause"
    )
    _click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#subscription-actions-form button[type=submit]"))
    assert "Pause subscriptions?" in browser.page_source
    assert Subscription.objects.get(pk=subscription.pk).status == "active"  # nothing until confirmed
    _click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, 'input[type=submit][value="Yes, I\'m sure"]'))

    assert browser.current_url.endswith(f"/admin/payments/customer/{quote(story.customer.pk)}/change/")
    assert "Paused:" in _messages(browser)
    assert "paused" in browser.find_element(By.ID, "customer-subscriptions").text
    assert Subscription.objects.get(pk=subscription.pk).status == "paused"


# --- Marketing ----------------------------------------------------------------------------------


def _fill(driver, name: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)


def _choose(driver, name: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f'input[name="{name}"][value="{value}"]').click()


def test_marketing_creates_a_bulk_campaign_generates_codes_and_exports_them(live_server, browser, django_user_model):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    plan = PlanFactory(code="monthly", name="Monthly")
    browser_sign_in(browser, live_server, _staff(django_user_model, "marketing"))
    _open(browser, f"{live_server.url}/admin/")
    _click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, 'a.addlink[href="/admin/coupons/coupon/add/"]'))

    _fill(browser, "name", "Spring")
    _choose(browser, "kind", "bulk")
    assert not browser.find_element(By.CSS_SELECTOR, ".form-row.field-code").is_displayed()  # bulk: no single code
    _fill(browser, "code_template", "spring-********")
    _choose(browser, "discount_type", "amount")
    assert not browser.find_element(By.CSS_SELECTOR, ".form-row.field-percent_off").is_displayed()
    _fill(browser, "amounts_off", "EUR 5.001, USD 6")
    _choose(browser, "duration", "repeating")
    _fill(browser, "duration_cycles", "3")
    _choose(browser, "redemption_target", "account")
    Select(browser.find_element(By.ID, "id_applies_to_plans_from")).select_by_value(plan.pk)
    browser.find_element(By.ID, "id_applies_to_plans_add").click()
    _fill(browser, "max_redemptions", "1000")
    _click_and_wait(browser, browser.find_element(By.NAME, "_save"))

    error = browser.find_element(By.CSS_SELECTOR, ".field-amounts_off .errorlist").text  # refused, nothing written
    assert "EUR 5.001: EUR amounts have 2 decimal places at most" in error
    assert not Coupon.objects.exists()
    _fill(browser, "amounts_off", "EUR 5.00, USD 6")
    _click_and_wait(browser, browser.find_element(By.NAME, "_continue"))

    assert "was added successfully" in _messages(browser)
    coupon = Coupon.objects.get()
    assert (coupon.kind, coupon.code_template, coupon.duration_cycles) == ("bulk", "SPRING-********", 3)
    assert list(coupon.applies_to_plans.values_list("pk", flat=True)) == [plan.pk]

    _click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, 'a.campaign-action[href$="/generate_codes/"]'))
    _fill(browser, "count", "25")
    _click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, 'input[type=submit][value="Yes, I\'m sure"]'))

    assert "Generated: Spring (25 code(s))" in _messages(browser)
    assert "25 code(s)" in browser.find_element(By.CSS_SELECTOR, ".field-codes").text
    export_url = browser.find_element(By.CSS_SELECTOR, 'a.campaign-action[href$="/export_csv/"]').get_attribute("href")
    csv_text = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'}).then((r) => r.text()).then(done);",
        export_url,
    )
    lines = csv_text.strip().splitlines()
    assert lines[0] == "code,state,redeemed_by,redeemed_at"
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(coupon.codes.values_list("code", flat=True))
    assert len(lines) == 26 and all(line.startswith("SPRING-") for line in lines[1:])


# --- Administrator --------------------------------------------------------------------------------


def test_an_administrator_runs_the_outage_drill_and_sees_the_gateways_health(live_server, browser, django_user_model):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from payments.models import GatewayAccount

    primary = sandbox_account(display_name="Sandbox EU", region="EU", priority=10)
    sandbox_account(display_name="Backup EU", region="EU", priority=20)
    browser_sign_in(browser, live_server, _staff(django_user_model, "administrator"))
    _open(browser, f"{live_server.url}/admin/payments/gatewayaccount/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert [row.find_element(By.CSS_SELECTOR, "th").text for row in rows] == ["Sandbox EU", "Backup EU"]
    assert all("answering" in row.text and "EU" in row.text for row in rows)

    browser.find_element(By.CSS_SELECTOR, f'input[name="_selected_action"][value="{primary.pk}"]').click()
    Select(browser.find_element(By.CSS_SELECTOR, "select[name=action]")).select_by_value("outage_drill_start")
    _click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "button[name=index]"))

    assert "outage drill on" in _messages(browser)
    assert "outage drill on" in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")[0].text
    assert GatewayAccount.objects.get(pk=primary.pk).outage_drill is True
    assert primary.credentials["secret_key"] not in browser.page_source
