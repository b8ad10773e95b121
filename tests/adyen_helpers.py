"""Steps of the tests against the Adyen double (payments/tests/adyen_double.py): what Adyen's card
component does in the app, and its signed notifications delivered to our endpoint."""

from rest_framework.test import APIClient


def deliver(double, account) -> list:
    """Every notification the double has queued, posted to our endpoint as Adyen does; each must
    be answered `[accepted]`."""
    answers = []
    for body in double.notifications_take():
        response = APIClient().generic(
            "POST", f"/webhooks/gateways/{account.id}", body, content_type="application/json"
        )
        assert response.status_code == 200, response.content
        assert response.content == b"[accepted]"
        answers.append(response)
    return answers
