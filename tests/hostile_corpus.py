"""The hostile values tests/test_hostile_input.py sends: by field type, by route (the audit's
findings), raw bodies, garbage ids, cursors and filters."""

import base64
import json

OVERFLOWS = (2**15, 2**31, 2**63, 10**30, -1)
HUGE = "x" * 900_000  # a body under API_MAX_BODY_BYTES (1 MiB) ...
HUGER = "x" * (1024 * 1024 + 10)  # ... and one over it
GARBAGE_IDS = (
    "x",
    "\x00",
    "cus_\x00",
    "a" * 5000,
    "\u00e9\U0001f600\u202e",
    "..",
    "-1",
    "9" * 40,
    "' OR 1=1 --",
)

RAW_BODIES = {
    "deeply nested array": b"[" * 100_000 + b"]" * 100_000,
    "nested 40 deep": b'{"a":' * 40 + b"1" + b"}" * 40,
    "invalid utf-8": b'{"name": "\xff\xfe\xfd"}',
    "utf-16 with a bom": '{"name": "a"}'.encode("utf-16"),
    "nul escaped in a string": b'{"name": "a\\u0000b"}',
    "nul escaped in a key": b'{"na\\u0000me": "a"}',
    "raw nul byte": b'{"name": "a\x00b"}',
    "lone surrogate": b'{"name": "\\ud800"}',
    "not a number": b'{"name": NaN}',
    "truncated": b'{"name": ',
    "a 5000-digit integer": b'{"n": ' + b"9" * 5000 + b"}",
    "over the size limit": json.dumps({"name": HUGER}).encode(),
}


def field_values(schema: dict) -> list[tuple[str, object]]:
    """Hostile values for one field of a JSON body, by its declared type."""
    kind = schema.get("type")
    wrong = [("a list for a scalar", [1]), ("an object", {"a": 1}), ("null-ish string", "\x00")]
    if kind == "integer":
        low, high = schema.get("minimum", -(2**63)), schema.get("maximum", 2**63 - 1)
        values = [(f"int {v}", v) for v in OVERFLOWS if not low <= v <= high]
        return [*values, ("bool for int", True), ("a float", 1.5), ("a string", "12abc"), ("an object", {"a": 1})]
    if kind == "boolean":
        return [("an int for a bool", 2**63), ("a string for a bool", "maybe"), ("an object", {"a": 1})]
    if kind == "array":
        return [("an object for a list", {"a": 1}), ("a string for a list", "abc"), ("a bool for a list", True)]
    if kind == "object":
        return [("a list for an object", [1]), ("a string for an object", "abc"), ("a bool", True)]
    if "enum" in schema:
        return [("an unknown choice", "no-such-choice"), ("a bool", True), *wrong]
    if schema.get("format") == "date-time":
        return [("year 99999", "99999-01-01T00:00:00Z"), ("garbage date", "garbage"), ("a bool", True), *wrong]
    # a string
    return [("bool for a string", True), ("huge string", HUGE), ("nul in a string", "a\x00b"), *wrong[:2]]


# Values the audit found answering 500, and their neighbours, aimed at the field they reach.
TARGETED = {
    ("api/v1/plans", "POST"): [
        {"interval_count": 40_000},
        {"interval_count": 10**30},
        {"interval": "day", "interval_count": 3_000_000},
        {"interval": "year", "interval_count": 9_000},
        {"trial": {"length": 2**40, "unit": "day"}},
        {"trial": {"length": 32_767, "unit": "month"}, "interval": "year", "interval_count": 7_000},
        {"trial": {"length": "7", "unit": ["day"]}},
        {"trial": {"length": 7, "unit": "day", "requires_payment_method": 2**63}},
        {"kind": "one_off", "interval": None, "access_days": 3_000_000},
        {"kind": "one_off", "interval": None, "access_days": 2**31},
        {"billing_cycles": 10**12},
        {"billing_cycles": 2**31},
        {"prices": [{"amount": "1e30", "currency": "EUR"}]},
        {"prices": [{"amount": 10**30, "currency": "EUR"}]},
        {"prices": [{"amount": "9.99", "currency": ["EUR"]}]},
        {"prices": [{"amount": {"a": 1}, "currency": "EUR"}]},
        {"prices": [[1]]},
        {"description": HUGE},
    ],
    ("api/v1/plans/<str:plan_id>", "PATCH"): [
        {"trial": {}},
        {"trial": {"unit": "day"}},
        {"interval_count": 40_000},
        {"trial": {"length": 2**40, "unit": "day"}},
        {"description": HUGE},
    ],
    ("api/v1/coupons", "POST"): [
        {"duration_cycles": 10**12},
        {"duration_cycles": 40_000},
        {"discount": {"type": "percent", "percent_off": 10**30}},
        {"discount": {"type": "percent", "percent_off": "1e999999"}},
        {"discount": {"type": "percent", "percent_off": "NaN"}},
        {"discount": {"type": "percent", "percent_off": [10]}},
        {"discount": {"type": "amount", "amounts_off": [{"amount": "1e30", "currency": "EUR"}]}},
        {"discount": {"type": "amount", "amounts_off": [{"amount": "1.00", "currency": {"a": 1}}]}},
        {"discount": {"type": "free_trial", "trial": {"length": 2**40, "unit": "day"}}},
        {"discount": {"type": ["percent"]}},
        {"max_redemptions": 2**31},
        {"max_redemptions_per_customer": 2**63},
        {"applies_to_plans": ["pln_x"] * 70_000},
        {"description": HUGE},
        {"redeem_by": "9999-12-31T23:59:59-14:00"},
        {"redeem_by": "0001-01-01T00:00:00+14:00"},
    ],
    ("api/v1/coupons/<str:coupon_id>", "PATCH"): [
        {"duration": "repeating", "duration_cycles": 10**12},
        {"max_redemptions": 2**31},
        {"discount": {"type": "free_trial", "trial": {"length": 2**40, "unit": "day"}}},
    ],
    ("api/v1/coupons/<str:coupon_id>/codes", "POST"): [
        {"count": 10**30},
        {"count": 2**63},
        {"count": 2**31},
        {"count": 0},
        {"count": "5"},
    ],
    ("api/v1/payments/<str:payment_id>/refunds", "POST"): [
        {"amount": 10**30},
        {"amount": "1e999999"},
        {"amount": "-1.00"},
        {"amount": {"amount": 2**63, "currency": "EUR"}},
        {"amount": {"amount": "1.00", "currency": ["EUR"]}},
        {"amount": {"amount": "1.00"}},
        {"amount": [1]},
    ],
    ("api/v1/subscriptions/<str:subscription_id>/extend", "POST"): [{"days": 10**30}, {"days": 2**31}],
    ("api/v1/customers/<str:customer_id>/tokens", "POST"): [{"ttl_seconds": 2**63}],
    ("sandbox/v1/tokens", "POST"): [
        {"card": {"number": "4242424242424242", "exp_month": 2**63, "exp_year": 2034, "cvc": "123"}},
        {"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 10**30, "cvc": "123"}},
        {"card": {"number": "4242" * 1000, "exp_month": 12, "exp_year": 2034, "cvc": "123"}},
        {"card": [1]},
    ],
}


def _drf_cursor(querystring: str) -> str:
    """A cursor as DRF's own would encode it: what a client could forge without a signature."""
    return base64.b64encode(querystring.encode()).decode()


GARBAGE_CURSORS = (
    "%%%",
    "",
    "garbage",
    _drf_cursor("p=garbage"),
    _drf_cursor("o=99999999999"),
    _drf_cursor("p=99999-01-01"),
    _drf_cursor("p=\x00"),
    "eyJvIjowLCJyIjpmYWxzZSwicCI6bnVsbH0:forged:signature",
)
GARBAGE_LIMITS = ("0", "-1", "101", "abc", "1.5", str(10**30), "true", "")


def query_values(name: str, schema: dict) -> list[str]:
    if name == "limit":
        return list(GARBAGE_LIMITS)
    values = ["\x00", "a%00b", "y" * 5000]
    if "enum" in schema or name in ("customer", "plan", "country", "currency", "status", "kind", "type"):
        values.append("no-such-value")
    return values
