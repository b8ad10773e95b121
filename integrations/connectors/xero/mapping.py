"""What the operator maps our lines to in Xero (an AccountCode per plan code, a TaxType per tax
case, the payment account) and the service that checks and stores it on the connector."""

import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from integrations.connectors.base import VendorError
from integrations.connectors.xero.client import DEFAULT_TOKEN_URL
from integrations.kernel.errors import InvalidRequest
from integrations.models import Connector

TAX_STATUSES = ("collecting", "reverse_charge", "not_registered", "no_rate")
MAPPING_SCREEN = "the connector's Xero mapping screen"

_ACCOUNT_CODE = re.compile(r"^[A-Za-z0-9._-]{1,10}$")  # Xero: alphanumeric, at most 10 characters
_TAX_TYPE = re.compile(r"^[A-Z0-9_]{1,50}$")  # OUTPUT2, ECOUTPUTSERVICES, EXEMPTOUTPUT, NONE, TAX001
_PLAN_CODE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class TaxRule:
    """Which TaxType a line posts with: its invoice's tax status, in `country` ("" = any) at
    `rate` (None = any). The most specific rule that matches wins."""

    tax_status: str
    country: str
    rate: Decimal | None
    tax_type: str

    def matches(self, *, tax_status: str, country: str, rate: Decimal) -> bool:
        return (
            self.tax_status == tax_status and self.country in ("", country) and (self.rate is None or self.rate == rate)
        )

    @property
    def specificity(self) -> tuple[bool, bool]:
        return bool(self.country), self.rate is not None

    def setting(self) -> dict:
        rate = "" if self.rate is None else _rate_text(self.rate)
        return {"tax_status": self.tax_status, "country": self.country, "rate": rate, "tax_type": self.tax_type}


def _rate_text(rate: Decimal) -> str:
    text = f"{rate:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) or "0"


def _case(tax_status: str, country: str, rate: Decimal) -> str:
    where = f" in {country}" if country else ""
    return f"{tax_status.replace('_', ' ')}{where} at rate {_rate_text(rate)}"


@dataclass(frozen=True)
class XeroMapping:
    default_account_code: str = ""
    plan_account_codes: dict[str, str] = field(default_factory=dict)
    default_tax_type: str = ""
    tax_rules: tuple[TaxRule, ...] = ()
    payment_account_code: str = ""

    @classmethod
    def from_settings(cls, settings_: dict) -> "XeroMapping":
        """What xero_settings_update stored (already validated)."""
        rules = tuple(
            TaxRule(
                tax_status=rule["tax_status"],
                country=rule.get("country") or "",
                rate=Decimal(rule["rate"]) if rule.get("rate") not in (None, "") else None,
                tax_type=rule["tax_type"],
            )
            for rule in settings_.get("tax_types") or []
        )
        return cls(
            default_account_code=settings_.get("default_account_code") or "",
            plan_account_codes=dict(settings_.get("plan_account_codes") or {}),
            default_tax_type=settings_.get("default_tax_type") or "",
            tax_rules=rules,
            payment_account_code=settings_.get("payment_account_code") or "",
        )

    def account_code(self, plan_code: str) -> str:
        code = self.plan_account_codes.get(plan_code) or self.default_account_code
        if not code:
            plan = f"plan '{plan_code}'" if plan_code else "a line whose plan is not known"
            raise VendorError(
                f"No Xero account code is mapped for {plan} and there is no default account code: "
                f"add one on {MAPPING_SCREEN}."
            )
        return code

    def tax_type(self, *, tax_status: str, country: str, rate: Decimal) -> str:
        matching = [rule for rule in self.tax_rules if rule.matches(tax_status=tax_status, country=country, rate=rate)]
        if matching:
            return max(matching, key=lambda rule: rule.specificity).tax_type
        if self.default_tax_type:
            return self.default_tax_type
        raise VendorError(
            f"No Xero tax type is mapped for {_case(tax_status, country, rate)} and there is no default "
            f"tax type: add one on {MAPPING_SCREEN}."
        )

    def payment_account(self) -> str:
        if not self.payment_account_code:
            raise VendorError(
                f"No Xero bank or clearing account code is set for payments and refunds: add it on {MAPPING_SCREEN}."
            )
        return self.payment_account_code


def _invalid(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, code="parameter_invalid", param=param)


def _account_code_clean(value, param: str, *, required: bool = False) -> str:
    code = str(value or "").strip()
    if not code:
        if required:
            raise _invalid("An account code is needed.", param)
        return ""
    if not _ACCOUNT_CODE.match(code):
        raise _invalid(
            f"'{code[:40]}' is not a Xero account code (letters, digits, '.', '_' or '-', at most 10).", param
        )
    return code


def _tax_type_clean(value, param: str, *, required: bool = False) -> str:
    tax_type = str(value or "").strip().upper()
    if not tax_type:
        if required:
            raise _invalid("A tax type is needed.", param)
        return ""
    if not _TAX_TYPE.match(tax_type):
        raise _invalid(f"'{tax_type[:60]}' is not a Xero tax type (such as OUTPUT2, EXEMPTOUTPUT, NONE).", param)
    return tax_type


def _rate_clean(value, param: str) -> Decimal | None:
    text = str(value if value is not None else "").strip()
    if text in ("", "*"):
        return None
    percent = text.endswith("%")
    try:
        rate = Decimal(text.rstrip("%").strip())
    except InvalidOperation:
        raise _invalid(f"'{text[:20]}' is not a rate (0.19, or 19%).", param) from None
    if percent:
        rate /= 100
    if not rate.is_finite() or not 0 <= rate < 1:
        raise _invalid(f"'{text[:20]}' is not a rate between 0 and 1 (0.19 is 19%).", param)
    return rate.normalize() if rate else Decimal(0)


def xero_settings_validate(values: dict) -> dict:
    """The Xero settings an operator may set, checked and normalized (InvalidRequest naming the
    field otherwise): tenant_id, token_url, default_account_code, plan_account_codes {plan code:
    account code}, default_tax_type, tax_types [{tax_status, country, rate, tax_type}],
    payment_account_code. Keys left out are not changed."""
    clean: dict = {}
    if "tenant_id" in values:
        tenant = str(values["tenant_id"] or "").strip()
        try:
            clean["tenant_id"] = str(uuid.UUID(tenant)) if tenant else ""
        except ValueError:
            raise _invalid("The tenant id is the organisation's id in Xero, a UUID.", "tenant_id") from None
    if "token_url" in values:
        token_url = str(values["token_url"] or "").strip() or DEFAULT_TOKEN_URL
        if not token_url.startswith(("https://", "http://")) or len(token_url) > 500:
            raise _invalid("The token URL must start with https:// or http://.", "token_url")
        clean["token_url"] = token_url
    for name in ("default_account_code", "payment_account_code"):
        if name in values:
            clean[name] = _account_code_clean(values[name], name)
    if "default_tax_type" in values:
        clean["default_tax_type"] = _tax_type_clean(values["default_tax_type"], "default_tax_type")
    if "plan_account_codes" in values:
        plans = values["plan_account_codes"] or {}
        if not isinstance(plans, dict):
            raise _invalid("Plan account codes are a mapping of plan code to account code.", "plan_account_codes")
        clean["plan_account_codes"] = {}
        for plan_code, account in plans.items():
            plan_code = str(plan_code).strip()
            if not _PLAN_CODE.match(plan_code):
                raise _invalid(f"'{plan_code[:70]}' is not a plan code.", "plan_account_codes")
            clean["plan_account_codes"][plan_code] = _account_code_clean(account, "plan_account_codes", required=True)
    if "tax_types" in values:
        rules = values["tax_types"] or []
        if not isinstance(rules, list):
            raise _invalid("Tax types are a list of rules.", "tax_types")
        seen, clean["tax_types"] = set(), []
        for rule in rules:
            if not isinstance(rule, dict):
                raise _invalid("A tax type rule has tax_status, country, rate and tax_type.", "tax_types")
            status = str(rule.get("tax_status") or "").strip()
            if status not in TAX_STATUSES:
                raise _invalid(f"'{status[:30]}' is not a tax status (one of {', '.join(TAX_STATUSES)}).", "tax_types")
            country = str(rule.get("country") or "").strip().upper()
            if country in ("*",):
                country = ""
            if country and not _COUNTRY.match(country):
                raise _invalid(f"'{country[:10]}' is not a two-letter country code.", "tax_types")
            rate = _rate_clean(rule.get("rate"), "tax_types")
            tax_type = _tax_type_clean(rule.get("tax_type"), "tax_types", required=True)
            parsed = TaxRule(tax_status=status, country=country, rate=rate, tax_type=tax_type)
            key = (status, country, rate)
            if key in seen:
                raise _invalid(f"Two rules for {parsed.setting()['tax_status']} {country} {rate or ''}.", "tax_types")
            seen.add(key)
            clean["tax_types"].append(parsed.setting())
    return clean


_SETTING_NAMES = (
    "tenant_id",
    "token_url",
    "default_account_code",
    "plan_account_codes",
    "default_tax_type",
    "tax_types",
    "payment_account_code",
)


def settings_check(settings_: dict, *, enabled: bool) -> None:
    """The connector kind's check (on every save, and before enabling): what is stored is valid,
    and an enabled connector has its organisation's tenant id."""
    xero_settings_validate({name: settings_[name] for name in _SETTING_NAMES if name in settings_})
    if enabled and not settings_.get("tenant_id"):
        raise InvalidRequest(
            f"Set the Xero organisation's tenant id on {MAPPING_SCREEN} before enabling the connector.",
            code="parameter_missing",
            param="tenant_id",
        )


def xero_settings_update(*, connector: Connector, values: dict) -> Connector:
    """Change a Xero connector's tenant, token URL and mapping (validated), through connector_update
    so the change is audited like any other."""
    from integrations.connectors.services import connector_update  # the services import the registry, which imports us

    if connector.kind != Connector.Kind.XERO:
        raise InvalidRequest("Only a Xero connector has a Xero mapping.", code="parameter_invalid", param="connector")
    return connector_update(connector=connector, settings=xero_settings_validate(values))
