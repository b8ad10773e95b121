"""The customer page: the profile and, below it, the customer's subscriptions, passes, payments,
invoices, refunds, discounts, cards (brand and last four) and events, each a read-only table
linking to its rows, shown to those who may view them, in a fixed number of queries; the
subscription actions run from the page with the subscription screen's permissions."""

import pytest
from django.contrib.admin.utils import quote
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import sign_in_verified, staff_in_role
from payments.tests.factories import CustomerFactory, sandbox_account
from plans.admin import customers as customer_page
from plans.models import Subscription
from plans.tests.customer_story import customer_story

pytestmark = pytest.mark.django_db

SECTIONS = ["subscriptions", "passes", "payments", "invoices", "refunds", "discounts", "cards", "events"]


def _page(customer) -> str:
    return reverse("admin:payments_customer_change", args=[quote(customer.pk)])


def _act_url(customer) -> str:
    return reverse("admin:payments_customer_subscription_action", args=[quote(customer.pk)])


def _tables(response) -> dict[str, list]:
    assert response.status_code == 200
    return {table["key"]: table for table in response.context["customer_tables"]}


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def account(db):
    return sandbox_account()


@pytest.fixture
def story(account):
    return customer_story(account)


@pytest.fixture
def admin(client, django_user_model):
    sign_in_verified(
        client, django_user_model.objects.create_superuser("admin", "admin@example.com", "secret-password")
    )
    return client


def _signed_in(client, django_user_model, role: str):
    return sign_in_verified(client, staff_in_role(role))


def test_the_page_shows_every_part_of_the_customers_story_with_links(admin, story):
    response = admin.get(_page(story.customer))

    tables = _tables(response)
    assert list(tables) == SECTIONS
    counts = {key: len(table["rows"]) for key, table in tables.items()}
    assert counts == {
        "subscriptions": 1,
        "passes": 1,
        "payments": 2,
        "invoices": 2,
        "refunds": 1,
        "discounts": 2,  # the subscription's coupon and the account's
        "cards": 1,
        "events": counts["events"],
    }
    assert counts["events"] >= 5
    html = response.content.decode()
    subscription, refund = story.subscriptions[0], story.refunds[0]
    for url in (
        reverse("admin:plans_subscription_change", args=[quote(subscription.pk)]),
        reverse("admin:payments_payment_change", args=[quote(story.payments[0].pk)]),
        reverse("admin:payments_refund_change", args=[quote(refund.pk)]),
        reverse("admin:payments_paymentmethod_change", args=[quote(story.cards[0].pk)]),
    ):
        assert f'href="{url}"' in html, url
    assert "Bought by mistake" in html and "the whole account" in html and "THREE-" in html


def test_cards_show_brand_and_last_four_and_never_more(admin, story):
    card = story.cards[0]

    response = admin.get(_page(story.customer))

    cards = _tables(response)["cards"]
    assert cards["columns"] == ("Card", "Last four", "Default", "Attached", "Added")
    html = response.content.decode()
    assert "4242" in html and card.brand in html
    assert card.fingerprint not in html and card.gateway_reference not in html
    assert "12/2034" not in html and "2034" not in html  # not even the expiry


def test_the_page_costs_the_same_queries_for_one_row_as_for_many(admin, account):
    few = customer_story(account, times=1)
    many = customer_story(account, times=3)
    admin.get(_page(few.customer))  # warm caches (content types, permissions)

    with CaptureQueriesContext(connection) as one:
        assert admin.get(_page(few.customer)).status_code == 200
    with CaptureQueriesContext(connection) as three:
        assert admin.get(_page(many.customer)).status_code == 200

    assert len(three) == len(one), [query["sql"][:120] for query in three.captured_queries]


def test_a_long_history_shows_the_newest_rows_and_links_to_all_of_them(admin, account, monkeypatch):
    monkeypatch.setattr(customer_page, "ROWS_SHOWN", 2)
    story = customer_story(account, times=2)

    tables = _tables(admin.get(_page(story.customer)))

    payments = tables["payments"]
    assert len(payments["rows"]) == 2 and payments["more"]
    assert payments["more_url"] == f"/admin/payments/payment/?customer__exact={story.customer.pk}"
    other = customer_story(account)
    listed = admin.get(payments["more_url"])
    assert {payment.customer_id for payment in listed.context["cl"].result_list} == {story.customer.pk}
    assert other.customer.pk not in {payment.customer_id for payment in listed.context["cl"].result_list}
    assert [row[0] for row in tables["payments"]["rows"]] == [story.payments[3].pk, story.payments[2].pk]


def test_a_customer_with_nothing_yet_shows_empty_tables(admin):
    customer = CustomerFactory()

    response = admin.get(_page(customer))

    assert all(table["rows"] == [] for table in _tables(response).values())
    assert "None." in response.content.decode()


# --- By role ------------------------------------------------------------------------------------


def test_support_sees_the_whole_story_with_the_subscription_actions_but_no_refund(client, django_user_model, story):
    support = _signed_in(client, django_user_model, "support")

    response = support.get(_page(story.customer))

    assert list(_tables(response)) == SECTIONS
    actions = dict(response.context["subscription_actions"])
    assert {"cancel_now", "cancel_at_end", "pause", "resume", "extend", "retry_now"} <= set(actions)
    html = response.content.decode()
    assert 'name="_selected_action"' in html
    assert "refund_in_full" not in html
    assert not any(f"/payment/{payment.pk}/refund/" in html for payment in story.payments)


def test_finance_reads_the_money_but_has_no_subscription_actions(client, django_user_model, story):
    finance = _signed_in(client, django_user_model, "finance")

    response = finance.get(_page(story.customer))

    assert set(_tables(response)) == {"payments", "invoices", "refunds", "cards", "events"}
    assert not response.context["subscription_actions"]
    assert 'name="_selected_action"' not in response.content.decode()
    refused = finance.post(
        _act_url(story.customer), {"action": "pause", "_selected_action": [story.subscriptions[0].pk]}
    )
    assert refused.status_code == 403
    assert Subscription.objects.get(pk=story.subscriptions[0].pk).status == "active"


def test_marketing_cannot_open_a_customer(client, django_user_model, story):
    marketing = _signed_in(client, django_user_model, "marketing")

    assert marketing.get(_page(story.customer)).status_code == 403
    assert marketing.post(_act_url(story.customer), {"action": "pause"}).status_code == 403


# --- The subscription actions from the page ------------------------------------------------------


def test_support_pauses_a_subscription_from_the_customer_page_after_confirming(client, django_user_model, story):
    support = _signed_in(client, django_user_model, "support")
    subscription = story.subscriptions[0]
    ticked = {"action": "pause", "_selected_action": [subscription.pk]}

    asked = support.post(_act_url(story.customer), ticked)
    assert asked.status_code == 200 and "Pause subscriptions?" in asked.content.decode()
    assert f'href="{_page(story.customer)}"' in asked.content.decode()  # "take me back" to the customer
    assert Subscription.objects.get(pk=subscription.pk).status == "active"

    done = support.post(_act_url(story.customer), {**ticked, "confirm": "yes"})

    assert (done.status_code, done["Location"]) == (302, _page(story.customer))
    assert Subscription.objects.get(pk=subscription.pk).status == "paused"
    assert any(text.startswith("Paused:") for text in _messages(done))


def test_extend_from_the_customer_page_asks_for_days(admin, story):
    subscription = story.subscriptions[0]
    before = subscription.current_period_end

    admin.post(
        _act_url(story.customer),
        {"action": "extend", "_selected_action": [subscription.pk], "confirm": "yes", "days": "10"},
    )

    subscription.refresh_from_db()
    assert (subscription.current_period_end - before).days == 10


def test_another_customers_subscription_ticked_on_this_page_is_left_alone(admin, account, story):
    other = customer_story(account).subscriptions[0]

    response = admin.post(
        _act_url(story.customer), {"action": "cancel_now", "_selected_action": [other.pk], "confirm": "yes"}
    )

    assert response.status_code == 302
    assert Subscription.objects.get(pk=other.pk).status == "active"
    assert any("Tick the subscriptions" in text for text in _messages(response))


def test_no_action_chosen_or_an_unknown_one_is_refused_without_acting(admin, story):
    ticked = {"_selected_action": [story.subscriptions[0].pk], "confirm": "yes"}

    assert admin.post(_act_url(story.customer), {**ticked, "action": ""}).status_code == 302
    assert admin.post(_act_url(story.customer), {**ticked, "action": "delete_selected"}).status_code == 403
    assert admin.get(_act_url(story.customer)).status_code == 302
    assert Subscription.objects.get(pk=story.subscriptions[0].pk).status == "active"


def test_the_profile_still_saves_on_the_customer_page(admin, story):
    customer = story.customer
    data = {"external_id": customer.external_id, "email": "new@example.com", "name": customer.name, "country": "DE"}

    response = admin.post(_page(customer), data)

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.email == "new@example.com"
