"""The plan admin: changelist, add and change forms with their price inlines, the archive action."""

from decimal import Decimal
from html.parser import HTMLParser

import pytest

from conftest import sign_in_verified
from integrations.models import Event
from plans.models import Plan, PlanPrice
from plans.tests.factories import PlanFactory, plan_in_use

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/plans/plan/"
ADD = "/admin/plans/plan/add/"


class _FormFields(HTMLParser):
    """What a browser would post from the page's forms: inputs, checked boxes, selects, textareas."""

    def __init__(self):
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "image", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.fields.append((name, attrs.get("value") or ("on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select:
            self._options.append((attrs.get("value", ""), "selected" in attrs))
        elif tag == "textarea" and name:
            self._textarea = [name, ""]

    def handle_data(self, data):
        if self._textarea:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            selected = [value for value, chosen in self._options if chosen] or [self._options[0][0]]
            self.fields.append((self._select, selected[0]))
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.fields.append(tuple(self._textarea))
            self._textarea = None

    def data(self) -> dict:
        """Field values by name; a name given several times (`_selected_action`) maps to a list."""
        data: dict = {}
        for name, value in self.fields:
            if name in data:
                data[name] = [*data[name], value] if isinstance(data[name], list) else [data[name], value]
            else:
                data[name] = value
        return data


def _form_data(response) -> dict:
    assert response.status_code == 200, response.content[:2000]
    parser = _FormFields()
    parser.feed(response.content.decode())
    # The inlines' empty-form templates are for JavaScript, not posted as they are.
    return {name: value for name, value in parser.data().items() if "__prefix__" not in name}


def _price_rows(data: dict) -> dict[str, str]:
    """The amount field names of the current-price inline's saved rows, by currency."""
    return {
        data[name.replace("amount_0", "amount_1")]: name
        for name in data
        if name.endswith("-amount_0") and data[name.replace("amount_0", "id")]
    }


def _extra_price_row(data: dict) -> str:
    """The amount field name of the current-price inline's blank row."""
    [name] = [n for n in data if n.endswith("-amount_0") and not data[n.replace("amount_0", "id")]]
    return name


@pytest.fixture
def admin(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "secret-password")
    sign_in_verified(client, user)
    return client


def _add_form(admin, **fields) -> dict[str, str]:
    data = _form_data(admin.get(ADD))
    data.update(
        {"code": "monthly-hd", "name": "Monthly HD", "kind": "recurring", "interval": "month", "interval_count": "1"}
    )
    data.update(fields)
    return data


def test_the_add_form_names_its_price_inline_prices(admin):
    data = _form_data(admin.get(ADD))

    assert {"prices-TOTAL_FORMS", "prices-0-amount_0", "prices-0-amount_1"} <= set(data)
    assert data["prices-TOTAL_FORMS"] == "1"


def test_the_add_form_offers_no_rows_for_retired_prices(admin):
    data = _form_data(admin.get(ADD))

    # Both inlines relate through `prices`; Django gives the second one the prefix "prices-2".
    assert (data["prices-2-TOTAL_FORMS"], data["prices-2-MAX_NUM_FORMS"]) == ("0", "0")
    assert not [name for name in data if name.startswith("prices-2-0-")]


def test_the_changelist_shows_each_plan_with_its_current_prices(admin):
    plan = PlanFactory(
        name="Monthly HD", prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "1000", "currency": "JPY"}]
    )

    response = admin.get(CHANGELIST)

    assert response.status_code == 200
    content = response.content.decode()
    assert "Monthly HD" in content and plan.code in content
    prices_cell = content.split('<td class="field-prices">', 1)[1].split("</td>", 1)[0]
    assert "9.99" in prices_cell
    assert "1,000" in prices_cell


def test_the_changelist_does_not_show_retired_prices(admin):
    from plans.services import plan_update

    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}])
    plan_update(plan=plan, prices=[{"amount": "12.49", "currency": "EUR"}])

    content = admin.get(CHANGELIST).content.decode()

    prices_cell = content.split('<td class="field-prices">', 1)[1].split("</td>", 1)[0]
    assert "12.49" in prices_cell
    assert "9.99" not in prices_cell


def test_the_change_form_opens_for_a_plan(admin):
    plan = PlanFactory()

    response = admin.get(f"/admin/plans/plan/{plan.pk}/change/")

    assert response.status_code == 200
    assert plan.id in response.content.decode()


def test_adding_a_plan_with_a_price_creates_it_through_the_service(admin):
    data = _add_form(admin, **{"prices-0-amount_0": "9.99", "prices-0-amount_1": "EUR"})

    response = admin.post(ADD, data)

    assert response.status_code == 302, response.content[:3000]
    plan = Plan.objects.get(code="monthly-hd")
    assert plan.id.startswith("pln_")
    assert (plan.name, plan.kind, plan.interval, plan.status) == ("Monthly HD", "recurring", "month", "active")
    assert [(p.amount.amount, p.currency, p.is_current) for p in plan.prices.all()] == [(Decimal("9.99"), "EUR", True)]
    assert Event.objects.filter(type="plan.created").count() == 1


def test_adding_a_plan_records_it_in_the_admin_history(admin):
    from django.contrib.admin.models import ADDITION, LogEntry

    data = _add_form(admin, **{"prices-0-amount_0": "9.99", "prices-0-amount_1": "EUR"})

    admin.post(ADD, data)

    plan = Plan.objects.get(code="monthly-hd")
    entry = LogEntry.objects.get(object_id=plan.pk)
    assert entry.action_flag == ADDITION


def test_adding_a_one_off_plan_with_a_trial_in_kuwaiti_dinar(admin):
    data = _add_form(
        admin,
        code="pass",
        kind="one_off",
        interval="",
        access_days="2",
        **{"prices-0-amount_0": "1.250", "prices-0-amount_1": "KWD"},
    )

    response = admin.post(ADD, data)

    assert response.status_code == 302, response.content[:3000]
    plan = Plan.objects.get(code="pass")
    assert (plan.kind, plan.interval, plan.access_days) == ("one_off", "", 2)
    assert [(p.amount.amount, p.currency) for p in plan.prices.all()] == [(Decimal("1.250"), "KWD")]


def test_adding_a_plan_with_a_trial_stores_it(admin):
    data = _add_form(
        admin,
        trial_length="14",
        trial_unit="day",
        **{"prices-0-amount_0": "9.99", "prices-0-amount_1": "EUR"},
    )
    data.pop("trial_requires_payment_method", None)  # unchecked

    response = admin.post(ADD, data)

    assert response.status_code == 302, response.content[:3000]
    plan = Plan.objects.get(code="monthly-hd")
    assert (plan.trial_length, plan.trial_unit, plan.trial_requires_payment_method) == (14, "day", False)


def test_adding_a_one_off_plan_without_access_days_shows_a_form_error(admin):
    data = _add_form(
        admin, kind="one_off", interval="", access_days="", **{"prices-0-amount_0": "4.99", "prices-0-amount_1": "EUR"}
    )

    response = admin.post(ADD, data)

    assert response.status_code == 200
    assert "access_days" in response.context["adminform"].form.errors
    assert Plan.objects.count() == 0
    assert PlanPrice.objects.count() == 0


def test_adding_a_recurring_plan_without_an_interval_shows_a_form_error(admin):
    data = _add_form(admin, interval="", **{"prices-0-amount_0": "9.99", "prices-0-amount_1": "EUR"})

    response = admin.post(ADD, data)

    assert response.status_code == 200
    assert "interval" in response.context["adminform"].form.errors
    assert Plan.objects.count() == 0


def test_adding_a_one_off_plan_with_a_trial_shows_an_error_and_creates_nothing(admin):
    data = _add_form(
        admin,
        kind="one_off",
        interval="",
        access_days="2",
        trial_length="7",
        trial_unit="day",
        **{"prices-0-amount_0": "4.99", "prices-0-amount_1": "EUR"},
    )

    response = admin.post(ADD, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Plan.objects.count() == 0


def test_adding_a_plan_without_a_price_shows_an_error_and_creates_nothing(admin):
    data = _add_form(admin)

    response = admin.post(ADD, data)

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert Plan.objects.count() == 0


def test_adding_a_price_too_precise_for_its_currency_shows_an_error_and_creates_nothing(admin):
    data = _add_form(admin, **{"prices-0-amount_0": "10.5", "prices-0-amount_1": "JPY"})

    response = admin.post(ADD, data)

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert any("JPY" in error for error in errors)
    assert Plan.objects.count() == 0
    assert PlanPrice.objects.count() == 0


def test_adding_a_plan_with_a_code_that_exists_shows_an_error(admin):
    PlanFactory(code="monthly-hd")
    data = _add_form(admin, **{"prices-0-amount_0": "9.99", "prices-0-amount_1": "EUR"})

    response = admin.post(ADD, data)

    assert response.status_code == 200
    assert "code" in response.context["adminform"].form.errors
    assert Plan.objects.count() == 1


def _change_url(plan) -> str:
    return f"/admin/plans/plan/{plan.pk}/change/"


def test_editing_a_price_adds_a_new_row_and_keeps_the_old_one_retired(admin):
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "1000", "currency": "JPY"}])
    old_eur = PlanPrice.objects.get(plan=plan, amount_currency="EUR")
    old_jpy = PlanPrice.objects.get(plan=plan, amount_currency="JPY")
    data = _form_data(admin.get(_change_url(plan)))
    data[_price_rows(data)["EUR"]] = "12.49"

    response = admin.post(_change_url(plan), data)

    assert response.status_code == 302, response.content[:3000]
    old_eur.refresh_from_db()
    old_jpy.refresh_from_db()
    assert (old_eur.is_current, old_eur.amount.amount) == (False, Decimal("9.99"))
    assert old_eur.retired_at is not None
    assert (old_jpy.is_current, old_jpy.retired_at) == (True, None)
    current = {p.currency: p.amount.amount for p in PlanPrice.objects.filter(plan=plan, is_current=True)}
    assert current == {"EUR": Decimal("12.49"), "JPY": Decimal("1000")}
    assert Event.objects.get(type="plan.updated").payload["changed"] == ["prices"]


def test_the_change_form_lists_retired_prices_apart_from_current_ones(admin):
    from plans.services import plan_update

    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}])
    plan_update(plan=plan, prices=[{"amount": "12.49", "currency": "EUR"}])

    response = admin.get(_change_url(plan))

    current, retired = response.context["inline_admin_formsets"]
    assert [form.instance.amount.amount for form in current.formset.initial_forms] == [Decimal("12.49")]
    assert [form.instance.amount.amount for form in retired.formset.initial_forms] == [Decimal("9.99")]


def test_saving_the_change_form_untouched_changes_no_price(admin):
    plan = PlanFactory()
    rows = set(PlanPrice.objects.filter(plan=plan).values_list("pk", "is_current"))
    data = _form_data(admin.get(_change_url(plan)))

    response = admin.post(_change_url(plan), data)

    assert response.status_code == 302, response.content[:3000]
    assert set(PlanPrice.objects.filter(plan=plan).values_list("pk", "is_current")) == rows
    assert not Event.objects.filter(type="plan.updated").exists()


def test_deleting_a_price_row_retires_that_currency(admin):
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}, {"amount": "1000", "currency": "JPY"}])
    data = _form_data(admin.get(_change_url(plan)))
    data[_price_rows(data)["JPY"].replace("amount_0", "DELETE")] = "on"

    response = admin.post(_change_url(plan), data)

    assert response.status_code == 302, response.content[:3000]
    yen = PlanPrice.objects.get(plan=plan, amount_currency="JPY")
    assert (yen.is_current, yen.retired_at is not None) == (False, True)
    assert PlanPrice.objects.get(plan=plan, amount_currency="EUR").is_current


def test_adding_a_currency_in_the_extra_row_adds_its_price(admin):
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}])
    data = _form_data(admin.get(_change_url(plan)))
    extra = _extra_price_row(data)
    data[extra] = "3.250"
    data[extra.replace("amount_0", "amount_1")] = "KWD"

    response = admin.post(_change_url(plan), data)

    assert response.status_code == 302, response.content[:3000]
    current = {p.currency: p.amount.amount for p in PlanPrice.objects.filter(plan=plan, is_current=True)}
    assert current == {"EUR": Decimal("9.99"), "KWD": Decimal("3.250")}


def test_a_second_price_in_the_same_currency_shows_an_error_and_changes_nothing(admin):
    plan = PlanFactory(prices=[{"amount": "9.99", "currency": "EUR"}])
    rows = set(PlanPrice.objects.filter(plan=plan).values_list("pk", "is_current"))
    data = _form_data(admin.get(_change_url(plan)))
    extra = _extra_price_row(data)
    data[extra] = "8.99"
    data[extra.replace("amount_0", "amount_1")] = "EUR"

    response = admin.post(_change_url(plan), data)

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert set(PlanPrice.objects.filter(plan=plan).values_list("pk", "is_current")) == rows


def test_editing_structural_terms_of_a_plan_in_use_shows_an_error_not_a_crash(admin):
    plan = PlanFactory(interval="month")
    plan_in_use(plan)
    data = _form_data(admin.get(_change_url(plan)))
    data["interval"] = "year"

    response = admin.post(_change_url(plan), data, follow=True)

    assert response.status_code == 200
    assert "cannot change once the plan is in use" in response.content.decode()
    assert Plan.objects.get(pk=plan.pk).interval == "month"
    assert not Event.objects.filter(type="plan.updated").exists()


def test_a_plan_in_use_cannot_be_deleted_from_the_admin(admin):
    plan = PlanFactory()
    plan_in_use(plan)

    response = admin.post(f"/admin/plans/plan/{plan.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert Plan.objects.filter(pk=plan.pk).exists()


def test_a_plan_nobody_uses_can_be_deleted_from_the_admin(admin):
    plan = PlanFactory()

    response = admin.post(f"/admin/plans/plan/{plan.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Plan.objects.filter(pk=plan.pk).exists()


# the archive action


def test_the_archive_action_first_asks_for_confirmation_and_archives_nothing(admin):
    plan = PlanFactory(name="Monthly HD")

    response = admin.post(CHANGELIST, {"action": "archive_selected", "_selected_action": [plan.pk]})

    assert response.status_code == 200
    assert "admin/confirm_action.html" in [t.name for t in response.templates]
    content = response.content.decode()
    assert "Monthly HD" in content
    assert 'name="confirm" value="yes"' in content
    assert Plan.objects.get(pk=plan.pk).status == "active"
    assert not Event.objects.filter(type="plan.archived").exists()


def test_the_archive_action_with_confirm_yes_archives_the_selected_plans(admin):
    chosen, other = PlanFactory(), PlanFactory()

    response = admin.post(CHANGELIST, {"action": "archive_selected", "_selected_action": [chosen.pk], "confirm": "yes"})

    assert response.status_code == 302
    assert Plan.objects.get(pk=chosen.pk).status == "archived"
    assert Plan.objects.get(pk=other.pk).status == "active"
    assert Event.objects.filter(type="plan.archived").count() == 1


def test_submitting_the_confirmation_page_archives_the_plans_it_lists(admin):
    first, second, other = PlanFactory(), PlanFactory(), PlanFactory()
    confirmation = admin.post(CHANGELIST, {"action": "archive_selected", "_selected_action": [first.pk, second.pk]})
    data = _form_data(confirmation)
    assert sorted(data["_selected_action"]) == sorted([first.pk, second.pk])
    assert Plan.objects.filter(status="archived").count() == 0

    response = admin.post(CHANGELIST, data)

    assert response.status_code == 302
    statuses = dict(Plan.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "archived", second.pk: "archived", other.pk: "active"}


def test_the_archive_action_on_an_archived_plan_changes_nothing(admin):
    from plans.services import plan_archive

    plan = PlanFactory()
    plan_archive(plan=plan)
    archived_at = Plan.objects.get(pk=plan.pk).archived_at

    admin.post(CHANGELIST, {"action": "archive_selected", "_selected_action": [plan.pk], "confirm": "yes"})

    assert Plan.objects.get(pk=plan.pk).archived_at == archived_at
    assert Event.objects.filter(type="plan.archived").count() == 1
