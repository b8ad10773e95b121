"""The webhook filters' list of resources (integrations/webhooks/event_types.py) covers every event
type the services emit: an endpoint can ask for any of them, and a misspelt one is refused."""

import re
from pathlib import Path

from integrations.webhooks.event_types import EVENT_RESOURCES, enabled_events_normalize

ROOT = Path(__file__).resolve().parent.parent
APPS = ("plans", "coupons", "payments", "integrations")
# type="payment.failed", type=f"coupon.{...}", ("subscription.renewed", {...}) in events_emit batches
EMITTED = re.compile(r"""type=f?"([a-z_]+)\.|\(\s*"([a-z_]+)\.[a-z_]+",\s*[{\w]""")


def _emitted_resources() -> set[str]:
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "tests" in path.parts or "migrations" in path.parts or "admin" in path.parts or path.name == "admin.py":
                continue
            for match in EMITTED.finditer(path.read_text()):
                found.add(match.group(1) or match.group(2))
    return found


def test_every_emitted_resource_can_be_asked_for():
    emitted = _emitted_resources()
    assert {"payment", "subscription", "invoice", "coupon", "customer", "plan"} <= emitted
    assert emitted - set(EVENT_RESOURCES) == set()
    for resource in emitted:
        assert enabled_events_normalize([f"{resource}.*"]) == [f"{resource}.*"]
