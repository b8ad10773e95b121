"""The subscription admin: the list and its filters, the read-only change page with its invoices,
the operator actions (each confirmed first, each one service call per subscription), and the
subscriptions on the customer page. Subscriptions are made by checkout on the sandbox gateway."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.forms.models import model_to_dict

from conftest import sign_in_verified
from integrations.models import Event
from payments.models import Payment, PaymentAttempt
from payments.services import payment_method_set_default
from payments.tests.factories import CustomerFactory, sandbox_account, sandbox_card
from plans.billing import run_billing
from plans.models import Subscription
from plans.services import checkout, plan_update, subscription_pause
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/plans/subscription/"
GOOD_CARD = "4242424242424242"
DECLINING_CARD = "4000000000009995"  # insufficient funds
ACTIONS = [
    "cancel_now",
    "cancel_at_end",
    "pause",
    "resume",
    "extend",
    "retry_now",
    "move_to_current_price_at_renewal",
]


@pytest.fixture
def admin(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "secret-password")
    sign_in_verified(client, user)
    return client


@pytest.fixture
def account(db):
    return sandbox_account()


def _subscribe(account, *, customer=None, plan=None) -> Subscription:
    """An active subscription, its first period paid by a good card (the customer's default)."""
    customer = customer or CustomerFactory()
    plan = plan or PlanFactory()
    card = sandbox_card(customer=customer, account=account, number=GOOD_CARD)
    subscription = checkout(customer=customer, plan_id=plan.pk, payment_method_id=card.pk).subscription
    assert subscription.status == Subscription.Status.ACTIVE
    return subscription


def _past_due(account) -> Subscription:
    """An active subscription whose renewal was declined: the default card became a declining one."""
    subscription = _subscribe(account)
    declining = sandbox_card(customer=subscription.customer, account=account, number=DECLINING_CARD)
    payment_method_set_default(payment_method=declining)
    run_billing(as_of=subscription.current_period_end + timedelta(hours=1))
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.PAST_DUE
    return subscription


def _listed(response) -> set[str]:
    assert response.status_code == 200
    return {subscription.pk for subscription in response.context["cl"].result_list}


def _act(admin, action: str, *subscriptions, **fields):
    """The action as the changelist posts it (confirm=yes: as the confirmation page posts it)."""
    return admin.post(
        CHANGELIST, {"action": action, "_selected_action": [s.pk for s in subscriptions], "index": "0", **fields}
    )


def _confirm(admin, action: str, *subscriptions, **fields):
    return _act(admin, action, *subscriptions, confirm="yes", **fields)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _events(subscription, type_: str) -> list[Event]:
    return [e for e in Event.objects.filter(type=type_) if e.payload["subscription"]["id"] == subscription.pk]


def _fresh(subscription) -> Subscription:
    return Subscription.objects.get(pk=subscription.pk)


# --- the list -----------------------------------------------------------------------------------


def test_changelist_lists_subscriptions_with_customer_plan_status_and_price(admin, account):
    subscription = _subscribe(account, customer=CustomerFactory(external_id="crm-77", email="ada@example.com"))

    response = admin.get(CHANGELIST)

    assert _listed(response) == {subscription.pk}
    page = response.content.decode()
    assert "crm-77 &lt;ada@example.com&gt;" in page
    assert subscription.plan.name in page
    assert "€9.99" in page


def test_changelist_filters_by_status(admin, account):
    past_due = _past_due(account)
    _subscribe(account)

    assert _listed(admin.get(CHANGELIST, {"status__exact": "past_due"})) == {past_due.pk}


def test_changelist_filters_by_plan(admin, account):
    wanted = _subscribe(account)
    _subscribe(account)

    assert _listed(admin.get(CHANGELIST, {"plan__id__exact": wanted.plan_id})) == {wanted.pk}


def test_changelist_filters_by_currency(admin, account):
    yen = _subscribe(account, customer=CustomerFactory(country="JP", currency="JPY"))
    _subscribe(account)

    assert _listed(admin.get(CHANGELIST, {"currency__exact": "JPY"})) == {yen.pk}


def test_changelist_filters_by_customer_country(admin, account):
    austrian = _subscribe(account, customer=CustomerFactory(country="AT", currency="EUR"))
    _subscribe(account)

    assert _listed(admin.get(CHANGELIST, {"customer__country__exact": "AT"})) == {austrian.pk}


def test_changelist_filters_by_the_gateway_of_the_subscriptions_card(admin, account):
    other_account = sandbox_account(display_name="Sandbox B")
    on_other = _subscribe(other_account)
    _subscribe(account)

    assert _listed(admin.get(CHANGELIST, {"gateway": other_account.pk})) == {on_other.pk}


def test_changelist_gateway_filter_also_matches_the_customers_default_card(admin, account):
    other_account = sandbox_account(display_name="Sandbox B")
    subscription = _subscribe(account)
    payment_method_set_default(payment_method=sandbox_card(customer=subscription.customer, account=other_account))
    _subscribe(account)

    assert _listed(admin.get(CHANGELIST, {"gateway": other_account.pk})) == {subscription.pk}


def test_changelist_searches_by_id_external_id_and_email(admin, account):
    wanted = _subscribe(account, customer=CustomerFactory(external_id="crm-4711", email="grace@example.com"))
    _subscribe(account)

    assert _listed(admin.get(CHANGELIST, {"q": wanted.pk})) == {wanted.pk}
    assert _listed(admin.get(CHANGELIST, {"q": "crm-4711"})) == {wanted.pk}
    assert _listed(admin.get(CHANGELIST, {"q": "grace@"})) == {wanted.pk}


def test_subscriptions_cannot_be_added_or_deleted_in_the_admin(admin, account):
    subscription = _subscribe(account)

    assert admin.get(f"{CHANGELIST}add/").status_code == 403
    assert admin.get(f"{CHANGELIST}{subscription.pk}/delete/").status_code == 403
    assert "delete_selected" not in dict(admin.get(CHANGELIST).context["action_form"].fields["action"].choices)


# --- the change page ----------------------------------------------------------------------------


def test_change_page_shows_billing_state_read_only(admin, account):
    subscription = _subscribe(account)

    response = admin.get(f"{CHANGELIST}{subscription.pk}/change/")

    assert response.status_code == 200
    assert not response.context["adminform"].form.fields  # nothing to edit
    assert b'name="_save"' not in response.content


def test_change_page_posting_changes_nothing(admin, account):
    subscription = _subscribe(account)
    before = model_to_dict(subscription)

    response = admin.post(f"{CHANGELIST}{subscription.pk}/change/", {"status": "canceled", "cycles_billed": "99"})

    assert response.status_code == 403
    assert model_to_dict(_fresh(subscription)) == before


def test_change_page_shows_the_subscriptions_invoices(admin, account):
    subscription = _past_due(account)
    first, renewal = subscription.invoice_links.select_related("invoice").order_by("period_start")

    response = admin.get(f"{CHANGELIST}{subscription.pk}/change/")

    [inline] = [f for f in response.context["inline_admin_formsets"] if f.opts.model.__name__ == "SubscriptionInvoice"]
    assert [form.original.pk for form in inline] == [renewal.pk, first.pk]
    page = response.content.decode()
    assert first.invoice.number in page
    assert renewal.invoice.number in page
    assert "Renewal" in page and "Open" in page and "Paid" in page


# --- actions: a confirmation first --------------------------------------------------------------


def _ready_for(action: str, account) -> Subscription:
    """A subscription the action would change once confirmed."""
    if action == "retry_now":
        subscription = _past_due(account)
        good = subscription.customer.payment_methods.get(last4=GOOD_CARD[-4:])
        payment_method_set_default(payment_method=good)
        return subscription
    subscription = _subscribe(account)
    if action == "resume":
        subscription = subscription_pause(subscription=subscription)
    elif action == "move_to_current_price_at_renewal":
        plan_update(plan=subscription.plan, prices=[{"amount": "12.99", "currency": "EUR"}])
    return _fresh(subscription)


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_shows_a_confirmation_page_first_and_changes_nothing(admin, account, action):
    subscription = _ready_for(action, account)
    before, events, attempts = model_to_dict(subscription), Event.objects.count(), PaymentAttempt.objects.count()

    response = _act(admin, action, subscription)

    assert response.status_code == 200
    assert "admin/confirm_action.html" in [t.name for t in response.templates]
    assert f'name="action" value="{action}"' in response.content.decode()
    assert f'name="_selected_action" value="{subscription.pk}"' in response.content.decode()
    assert model_to_dict(_fresh(subscription)) == before
    assert (Event.objects.count(), PaymentAttempt.objects.count()) == (events, attempts)


def test_extend_confirmation_page_asks_for_the_number_of_days(admin, account):
    subscription = _subscribe(account)

    response = _act(admin, "extend", subscription)

    assert 'name="days"' in response.content.decode()
    assert not response.context["form"].errors


# --- actions: confirmed -------------------------------------------------------------------------


def test_cancel_now_confirmed_cancels_the_subscription_for_the_operator(admin, account):
    subscription = _subscribe(account)

    response = _confirm(admin, "cancel_now", subscription)

    assert response.status_code == 302
    subscription = _fresh(subscription)
    assert subscription.status == Subscription.Status.CANCELED
    assert subscription.cancel_reason == Subscription.CancelReason.OPERATOR
    assert subscription.ended_at is not None
    assert len(_events(subscription, "subscription.canceled")) == 1
    assert any(subscription.pk in message and "canceled" in message for message in _messages(response))


def test_cancel_at_period_end_confirmed_keeps_it_active_until_the_period_ends(admin, account):
    subscription = _subscribe(account)

    response = _confirm(admin, "cancel_at_end", subscription)

    subscription = _fresh(subscription)
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.cancel_at_period_end is True
    assert subscription.cancel_reason == Subscription.CancelReason.OPERATOR
    [event] = _events(subscription, "subscription.updated")
    assert event.payload["change"] == "cancel_at_period_end"
    assert any("cancels at period end" in message for message in _messages(response))


def test_pause_confirmed_pauses_the_subscription(admin, account):
    subscription = _subscribe(account)

    _confirm(admin, "pause", subscription)

    subscription = _fresh(subscription)
    assert subscription.status == Subscription.Status.PAUSED
    assert subscription.paused_at is not None
    assert subscription.next_billing_at is None
    assert len(_events(subscription, "subscription.paused")) == 1


def test_resume_confirmed_resumes_a_paused_subscription_and_bills_a_new_period(admin, account):
    subscription = _subscribe(account)
    _confirm(admin, "pause", subscription)

    _confirm(admin, "resume", subscription)

    subscription = _fresh(subscription)
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.paused_at is None
    assert subscription.cycles_billed == 2
    assert len(_events(subscription, "subscription.resumed")) == 1
    assert len(_events(subscription, "subscription.renewed")) == 1


def test_resume_confirmed_undoes_a_cancel_at_period_end(admin, account):
    subscription = _subscribe(account)
    _confirm(admin, "cancel_at_end", subscription)

    _confirm(admin, "resume", subscription)

    subscription = _fresh(subscription)
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.cancel_at_period_end is False
    assert subscription.cancel_reason == ""
    assert len(_events(subscription, "subscription.resumed")) == 1


def test_extend_confirmed_lengthens_the_current_period_by_the_days_given(admin, account):
    subscription = _subscribe(account)

    response = _confirm(admin, "extend", subscription, days="30")

    assert response.status_code == 302
    extended = _fresh(subscription)
    assert extended.current_period_end == subscription.current_period_end + timedelta(days=30)
    assert extended.next_billing_at == subscription.next_billing_at + timedelta(days=30)
    [event] = _events(subscription, "subscription.extended")
    assert event.payload["days"] == 30


@pytest.mark.parametrize("days", ["0", "3651", "-5", "ten", ""])
def test_extend_with_a_bad_number_of_days_shows_an_error_and_changes_nothing(admin, account, days):
    subscription = _subscribe(account)
    before = model_to_dict(subscription)

    response = _confirm(admin, "extend", subscription, days=days)

    assert response.status_code == 200
    assert "admin/confirm_action.html" in [t.name for t in response.templates]
    assert response.context["form"].errors["days"]
    assert 'class="errorlist' in response.content.decode()
    assert model_to_dict(_fresh(subscription)) == before
    assert _events(subscription, "subscription.extended") == []


def test_retry_now_confirmed_charges_a_past_due_renewal_to_the_new_good_default_card(admin, account):
    subscription = _past_due(account)
    good = subscription.customer.payment_methods.get(last4=GOOD_CARD[-4:])
    payment_method_set_default(payment_method=good)

    response = _confirm(admin, "retry_now", subscription)

    subscription = _fresh(subscription)
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.cycles_billed == 2
    assert subscription.past_due_since is None
    renewal = subscription.invoice_links.get(purpose="renewal").invoice
    assert renewal.status == "paid"
    [payment] = renewal.payments.all()
    assert (payment.status, payment.payment_method_id, payment.attempts) == (Payment.Status.SUCCEEDED, good.pk, 2)
    assert len(_events(subscription, "subscription.renewed")) == 1
    assert any("Retried" in message and subscription.pk in message for message in _messages(response))


def test_retry_now_with_the_card_still_declining_reports_the_decline(admin, account):
    subscription = _past_due(account)

    response = _confirm(admin, "retry_now", subscription)

    assert _fresh(subscription).status == Subscription.Status.PAST_DUE
    [message] = _messages(response)
    assert "Not done" in message and "insufficient_funds" in message


def test_move_to_current_price_confirmed_marks_the_subscription_for_its_next_renewal(admin, account):
    subscription = _subscribe(account)
    plan_update(
        plan=subscription.plan,
        prices=[{"amount": "12.99", "currency": "EUR"}, {"amount": "1000", "currency": "JPY"}],
    )

    _confirm(admin, "move_to_current_price_at_renewal", subscription)

    subscription = _fresh(subscription)
    assert subscription.move_to_current_price is True
    assert str(subscription.price.amount.amount) == "9.9900"  # the new price applies from the renewal


# --- actions: refusals --------------------------------------------------------------------------


def test_a_refused_row_is_reported_and_the_others_still_go_ahead(admin, account):
    canceled = _subscribe(account)
    _confirm(admin, "cancel_now", canceled)
    active = _subscribe(account)

    response = _confirm(admin, "pause", canceled, active)

    assert response.status_code == 302
    assert _fresh(canceled).status == Subscription.Status.CANCELED
    assert _fresh(active).status == Subscription.Status.PAUSED
    messages = _messages(response)
    assert any(f"{canceled.pk}: A canceled subscription cannot be paused." in m for m in messages)
    assert any(m.startswith("Paused") and active.pk in m for m in messages)


def test_retry_now_on_an_active_subscription_is_refused_with_a_message(admin, account):
    subscription = _subscribe(account)

    response = _confirm(admin, "retry_now", subscription)

    assert response.status_code == 302
    assert any("Only a past-due renewal can be retried." in message for message in _messages(response))


def test_move_to_current_price_on_the_current_price_is_refused_with_a_message(admin, account):
    subscription = _subscribe(account)

    response = _confirm(admin, "move_to_current_price_at_renewal", subscription)

    assert _fresh(subscription).move_to_current_price is False
    assert any("already pays the current price" in message for message in _messages(response))
