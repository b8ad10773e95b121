"""The dashboard, the admin's first page, in a real headless Chromium with known figures (daily
snapshots written as the snapshot task writes them): the figures on screen are the expected ones,
each chart is drawn by the vendored Chart.js with the expected data, a role sees only what it may,
each chart's CSV holds the same data; a screenshot is kept for CI (DASHBOARD_SCREENSHOT_DIR, else
the test's temporary folder)."""

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.test import Client

from conftest import sign_in_verified, staff_in_role
from plans.models import MetricSnapshot
from tests import test_browser_hosted_pages as hosted_pages
from tests.test_browser_back_office import _open, browser_sign_in, plain_http_cookies  # noqa: F401 (fixture)

CHROMIUM, CHROMEDRIVER = hosted_pages.CHROMIUM, hosted_pages.CHROMEDRIVER
browser = hosted_pages.browser

TODAY = dt.date(2030, 3, 31)
FIRST = TODAY - dt.timedelta(days=9)


def snapshots():
    """Ten days in EUR: MRR 100.00 growing 5.00 a day (one new subscription of 5.00 each day), a
    churn of 10.00 on the last day; one trial started a day, a conversion every other day; and JPY."""
    rows = []
    for index in range(10):
        day = FIRST + dt.timedelta(days=index)
        churned = index == 9
        rows.append(
            MetricSnapshot(
                day=day,
                currency="EUR",
                mrr=Decimal(100 + 5 * index - (10 if churned else 0)),
                active_subscriptions=20 + index - (1 if churned else 0),
                trialing_subscriptions=3,
                past_due_subscriptions=1,
                paying_customers=20 + index - (1 if churned else 0),
                new=Decimal(5),
                new_count=1,
                churn=Decimal(10 if churned else 0),
                churn_count=1 if churned else 0,
                trials_started=1,
                trials_ended=1,
                trials_converted=index % 2,
                revenue=Decimal("5.00"),
                computed_at=dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC),
            )
        )
    rows.append(
        MetricSnapshot(
            day=TODAY,
            currency="JPY",
            mrr=Decimal(1200),
            active_subscriptions=1,
            revenue=Decimal(1200),
            computed_at=dt.datetime(2030, 4, 1, tzinfo=dt.UTC),
        )
    )
    MetricSnapshot.objects.bulk_create(rows)


@pytest.fixture
def at_the_end():
    """Two days later: every day shown is a finished day, read from its snapshot."""
    with time_machine.travel(dt.datetime(2030, 4, 2, 12, 0, tzinfo=dt.UTC), tick=True):
        yield


def dashboard_url(live_server) -> str:
    return f"{live_server.url}/admin/?from={FIRST}&to={TODAY}&currency=EUR"


def screenshot(driver, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("DASHBOARD_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(folder / name))
    return folder / name


def chart_data(driver, key: str):
    return driver.execute_script(
        "var c = Chart.getChart(document.getElementById(arguments[0]));"
        "return c ? c.data.datasets.map(function (d) { return [d.label, d.data]; }) : null;",
        f"chart-{key}",
    )


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="Chromium and chromedriver are not installed (.ci/run installs them)"
)
@pytest.mark.django_db(transaction=True)
def test_finance_sees_the_expected_figures_and_every_chart_drawn(browser, live_server, at_the_end, tmp_path):
    from selenium.webdriver.common.by import By

    snapshots()
    browser_sign_in(browser, live_server, staff_in_role("finance"))
    _open(browser, dashboard_url(live_server))

    def figure(key):
        element = browser.find_element(By.ID, f"figure-{key}")
        return (
            element.find_element(By.CLASS_NAME, "dashboard-figure-value").text,
            element.find_element(By.CLASS_NAME, "dashboard-figure-change").text,
        )

    # From the end of the first day (100.00) to the end of the last (100 + 45 - 10 = 135.00).
    assert figure("mrr") == ("135.00 EUR", "+35.00 EUR")
    assert figure("arr") == ("1\u202f620.00 EUR", "+420.00 EUR")
    assert figure("active_subscriptions") == ("28", "+8")
    assert figure("paying_customers")[0] == "28"
    # ARPU 135.00 / 28 = 4.82; at the start 100.00 / 20 = 5.00.
    assert figure("arpu") == ("4.82 EUR", "-0.18 EUR")

    drawn = {key: chart_data(browser, key) for key in ("mrr", "movements", "trials", "churn", "revenue")}
    assert drawn["mrr"] == [["MRR", [100, 105, 110, 115, 120, 125, 130, 135, 140, 135]]]  # each day's end
    movements = dict(drawn["movements"])
    assert movements["new"] == [5] * 10 and movements["churn"] == [0] * 9 + [-10]  # drawn below the axis
    assert movements["net"] == [5] * 9 + [-5]
    assert dict(drawn["trials"])["converted"] == [0, 1] * 5
    assert dict(drawn["churn"])["customers churned"] == [0] * 9 + [1]
    assert drawn["revenue"] is not None
    shot = screenshot(browser, tmp_path, "dashboard-finance.png")
    assert shot.stat().st_size > 10_000


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="Chromium and chromedriver are not installed (.ci/run installs them)"
)
@pytest.mark.django_db(transaction=True)
def test_support_sees_subscription_figures_and_no_money(browser, live_server, at_the_end, tmp_path):
    from selenium.webdriver.common.by import By

    snapshots()
    browser_sign_in(browser, live_server, staff_in_role("support"))
    _open(browser, dashboard_url(live_server))

    shown = {element.get_attribute("id") for element in browser.find_elements(By.CSS_SELECTOR, ".dashboard-figure")}
    assert "figure-active_subscriptions" in shown and "figure-trial_conversion_rate" in shown
    assert not shown & {"figure-mrr", "figure-arr", "figure-arpu", "figure-revenue_churn_rate"}
    assert not browser.find_elements(By.ID, "chart-mrr") and not browser.find_elements(By.ID, "chart-revenue")
    assert chart_data(browser, "trials") is not None
    assert "EUR" not in browser.find_element(By.CLASS_NAME, "dashboard-figures").text
    assert not browser.find_elements(By.ID, "dashboard-campaigns")  # the discount given is money
    screenshot(browser, tmp_path, "dashboard-support.png")


@pytest.mark.django_db
def test_each_chart_downloads_as_csv_for_those_who_may_see_it(at_the_end):
    snapshots()
    finance = sign_in_verified(Client(), staff_in_role("finance"))
    answer = finance.get(f"/admin/dashboard/movements.csv?from={FIRST}&to={TODAY}&currency=EUR")
    assert answer.status_code == 200 and answer["Content-Type"] == "text/csv"
    lines = b"".join(answer.streaming_content).decode().splitlines()
    assert lines[0] == "date,new,expansion,reactivation,contraction,churn,net"
    assert lines[-1] == f"{TODAY},5.00,0.00,0.00,0.00,10.00,-5.00"

    support = sign_in_verified(Client(), staff_in_role("support"))
    assert support.get(f"/admin/dashboard/movements.csv?from={FIRST}&to={TODAY}&currency=EUR").status_code == 403
    assert support.get(f"/admin/dashboard/trials.csv?from={FIRST}&to={TODAY}&currency=EUR").status_code == 200
    assert finance.get("/admin/dashboard/nothing.csv").status_code == 404
    bad = finance.get("/admin/dashboard/mrr.csv?from=2030-13-01&to=2030-03-31&currency=EUR")
    assert bad.status_code == 400 and b"from" in bad.content


@pytest.mark.django_db
def test_a_bad_range_shows_the_error_above_the_groups(at_the_end):
    finance = sign_in_verified(Client(), staff_in_role("finance"))
    page = finance.get("/admin/?from=2030-03-31&to=2030-03-01&currency=EUR")
    assert page.status_code == 200
    assert b'id="dashboard-error"' in page.content and b"from must be on or before to" in page.content


@pytest.mark.django_db
def test_a_role_without_any_figure_gets_no_dashboard(at_the_end):
    catalogue_free = sign_in_verified(Client(), staff_in_role("marketing"))
    page = catalogue_free.get("/admin/")
    assert page.status_code == 200
    assert b'id="figure-' not in page.content  # marketing sees campaigns only
    assert b'id="dashboard-campaigns"' in page.content
