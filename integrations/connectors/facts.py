"""What every customer-facing connector tells its vendor about a customer (HubSpot's contact
properties, Zendesk's user fields, Mailchimp's merge fields and tags): their subscription's status,
plan, monthly value, trial end and lifetime value, kept in the connector's record of the customer
from the events it has seen, in order. One reading of the events for all of them, so the systems
agree with each other."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta

from integrations.connectors.records import latest_customer_payload, latest_plan_payload, record_find, record_for
from integrations.models import Connector, ConnectorRecord, Event

LIVE = ("trialing", "active", "past_due", "paused", "incomplete")
IN_MRR = ("active", "past_due")  # trials are not revenue yet; past due still counts until churn

_TRACKED = (
    "customer.created",
    "customer.updated",
    "customer.erased",
    "invoice.paid",
    "payment.refunded",
    "coupon.redeemed",
)


@dataclass(frozen=True)
class CustomerFacts:
    customer_id: str
    email: str  # lower-cased; "" when no event showed one
    name: str
    country: str
    status: str  # the current subscription's, "none" without one
    plan: str  # the current subscription's plan code ("" without one)
    mrr: Decimal
    currency: str
    trial_end: str  # ISO 8601, "" without a trial
    lifetime_value: Decimal  # paid invoices less refunds
    coupon_used: bool = False  # a coupon.redeemed event was seen (Mailchimp's "coupon used" tag)

    @property
    def first_name(self) -> str:
        return self.name.partition(" ")[0]

    @property
    def last_name(self) -> str:
        return self.name.partition(" ")[2]


@dataclass
class Seen:
    """A customer's record after one event: `state` is record.state with the event applied (the
    handler saves it with what it sent); `erased` when the event was the customer's erasure."""

    record: ConnectorRecord
    state: dict
    erased: bool = False


def _months(interval: str | None, count: int | None) -> Decimal | None:
    count = Decimal(count or 1)
    per = {"day": Decimal(12) / 365, "week": Decimal(12) / 52, "month": Decimal(1), "year": Decimal(12)}
    return per[interval] * count if interval in per else None


def _months_between(start: str | None, end: str | None) -> Decimal | None:
    """A period's length in months, when the plan's interval is not known (no plan event seen)."""
    if not start or not end:
        return None
    begin, finish = datetime.fromisoformat(start), datetime.fromisoformat(end)
    delta = relativedelta(finish, begin)
    months = delta.years * 12 + delta.months
    if months and not delta.days:
        return Decimal(months)
    days = Decimal((finish - begin).total_seconds()) / 86400
    return days * 12 / 365 if days > 0 else None


def monthly_value(sub: dict, plan: dict | None) -> Decimal:
    """What a subscription brings in a month: its price per interval over the interval's months."""
    amount = Decimal(sub["price"]["amount"])
    months = _months(plan.get("interval"), plan.get("interval_count")) if plan else None
    if months is None:
        months = _months_between(sub.get("current_period_start"), sub.get("current_period_end"))
    if not months:
        return Decimal(0)
    return (amount / months).quantize(amount if amount.as_tuple().exponent < 0 else Decimal(1), ROUND_HALF_UP)


def _current(subscriptions: dict[str, dict]) -> dict | None:
    """The subscription a customer shows: the newest live one, else the newest."""
    ordered = sorted(subscriptions.values(), key=lambda sub: (sub["seen"], sub["id"]))
    live = [sub for sub in ordered if sub["status"] in LIVE]
    return (live or ordered or [None])[-1]


class CustomerFactsReader:
    """One connector's reading of the outbox into customers' facts."""

    def __init__(self, connector: Connector):
        self.connector = connector

    def known(self, customer_id: str) -> Seen | None:
        """A customer as the connector knows them, before any event is applied (their email read
        from the outbox the first time); None once they were erased."""
        record = record_for(connector=self.connector, object_type="customer", object_id=customer_id)
        state = dict(record.state or {})
        if state.get("erased"):
            return None
        state.setdefault("subs", {})
        state.setdefault("lifetime_value", None)
        if "email" not in state:
            self._customer_seen(state, latest_customer_payload(customer_id) or {})
        return Seen(record=record, state=state)

    def observe(self, event: Event) -> Seen | None:
        """The customer's record with the event applied; None when the event tells nothing about a
        customer's facts (plans are remembered on the way) or the customer was erased before."""
        payload = event.payload or {}
        if event.type.startswith("plan."):
            self._plan_seen(payload.get("plan") or {})
            return None
        if not (event.type in _TRACKED or event.type.startswith("subscription.")) or not event.customer_id:
            return None
        seen = self.known(event.customer_id)
        if seen is None:
            return None
        record, state = seen.record, seen.state
        if event.type == "customer.erased":
            return Seen(record=record, state={"erased": True}, erased=True)
        if event.type.startswith("customer."):
            self._customer_seen(state, payload.get("customer") or {})
        elif event.type.startswith("subscription."):
            self._subscription_seen(state, payload.get("subscription") or {}, event)
        elif event.type == "invoice.paid":
            self._add_value(state, (payload.get("invoice") or {}).get("total"), sign=1)
        elif event.type == "payment.refunded":
            self._add_value(state, (payload.get("refund") or {}).get("amount"), sign=-1)
        elif event.type == "coupon.redeemed":
            state["coupon_used"] = True
        return Seen(record=record, state=state)

    def facts(self, customer_id: str, state: dict) -> CustomerFacts:
        current = _current(state.get("subs") or {})
        mrr = Decimal(0)
        for sub in (state.get("subs") or {}).values():
            if sub["status"] in IN_MRR:
                mrr += monthly_value(sub, self._plan(sub["plan"]) if sub["plan"] else None)
        plan = self._plan(current["plan"]) if current and current["plan"] else None
        value = state.get("lifetime_value")
        currency = (value or {}).get("currency") or (current or {}).get("price", {}).get("currency") or ""
        return CustomerFacts(
            customer_id=customer_id,
            email=state.get("email", ""),
            name=state.get("name") or "",
            country=state.get("country") or "",
            status=current["status"] if current else "none",
            plan=((plan or {}).get("code") or current["plan"]) if current else "",
            mrr=mrr,
            currency=currency or state.get("currency", ""),
            trial_end=(current or {}).get("trial_end") or "",
            lifetime_value=Decimal(value["amount"]) if value else Decimal(0),
            coupon_used=bool(state.get("coupon_used")),
        )

    # --- state from payloads

    def _plan_seen(self, plan: dict) -> None:
        if not plan.get("id"):
            return
        record = record_for(connector=self.connector, object_type="plan", object_id=plan["id"])
        record.state = {key: plan.get(key) for key in ("code", "name", "interval", "interval_count")}
        record.save(update_fields=["state", "updated_at"])

    def _plan(self, plan_id: str) -> dict | None:
        record = record_find(connector=self.connector, object_type="plan", object_id=plan_id)
        if record is not None:
            return record.state
        return latest_plan_payload(plan_id)

    @staticmethod
    def _customer_seen(state: dict, customer: dict) -> None:
        state["email"] = (customer.get("email") or "").strip().lower()
        for key in ("name", "country", "currency"):
            state[key] = customer.get(key) or ""

    @staticmethod
    def _subscription_seen(state: dict, sub: dict, event: Event) -> None:
        if not sub.get("id"):
            return
        state["subs"][sub["id"]] = {
            "id": sub["id"],
            "status": sub.get("status") or "",
            "plan": sub.get("plan") or "",
            "price": sub.get("price") or {"amount": "0", "currency": ""},
            "current_period_start": sub.get("current_period_start"),
            "current_period_end": sub.get("current_period_end"),
            "trial_end": sub.get("trial_end"),
            "seen": event.created_at.isoformat(),
        }

    @staticmethod
    def _add_value(state: dict, money: dict | None, *, sign: int) -> None:
        if not money or money.get("amount") in (None, ""):
            return
        total = Decimal(state["lifetime_value"]["amount"]) if state["lifetime_value"] else Decimal(0)
        amount = Decimal(money["amount"])
        state["lifetime_value"] = {"amount": str(total + sign * amount), "currency": money.get("currency", "")}
