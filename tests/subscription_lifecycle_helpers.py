"""Steps and dates shared by the subscription lifecycle tests (tests/test_e2e_subscriptions_*.py that
move time with `run_billing --as-of`): the monthly period ends from START, reading timestamps,
cancelling, counting payment attempts, and a subscription made past due."""

from datetime import UTC, datetime

from tests.subscription_helpers import NO_FUNDS_CARD, attach_card, make_default, payments, subscribe, subscription

FEB_10 = datetime(2030, 2, 10, 12, 0, tzinfo=UTC)  # end of the first monthly period from START
MAR_10 = datetime(2030, 3, 10, 12, 0, tzinfo=UTC)
APR_10 = datetime(2030, 4, 10, 12, 0, tzinfo=UTC)
MAY_10 = datetime(2030, 5, 10, 12, 0, tzinfo=UTC)


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def cancel(app, sub_id: str, **body):
    response = app.post(f"/api/v1/me/subscriptions/{sub_id}/cancel", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def attempts(app) -> list[tuple[str, int]]:
    return [(p["status"], len(p["attempts"])) for p in payments(app)]


def _past_due(billing, app, plan):
    """An active subscription whose default card now fails, after its renewal failed."""
    sub = subscribe(app, plan)
    make_default(app, attach_card(app, NO_FUNDS_CARD))
    billing.run(FEB_10)
    return subscription(app, sub["id"])
