"""Is a VAT id registered? The check behind a pluggable interface: `vat_checker()` builds the
class that settings.VAT_ID_CHECKER names, by default `ViesClient`, which asks the EU's VIES
REST service (settings.VIES_URL). No answer — a timeout, VIES or the member state down, a reply
we cannot read — is `valid=None`: nothing is concluded, and a failed check never exempts anyone."""

import http.client
import json
import logging
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

logger = logging.getLogger("payments")

MAX_ANSWER_BYTES = 64 * 1024
_NOT_DISCLOSED = {"", "---"}  # VIES answers "---" where a member state does not disclose the name or address


@dataclass(frozen=True)
class VatCheck:
    valid: bool | None  # True registered, False not registered, None no answer
    name: str = ""
    address: str = ""


NO_ANSWER = VatCheck(valid=None)


class VatChecker(ABC):
    """One method: `check("FR", "40303265045")`, the VIES country code (EL for Greece, XI for
    Northern Ireland) and the number without it. Never raises for a failed call: answers NO_ANSWER."""

    @abstractmethod
    def check(self, country_code: str, number: str) -> VatCheck: ...


class ViesClient(VatChecker):
    """VIES' REST API: POST {"countryCode", "vatNumber"} as JSON to the check-vat-number URL; the
    answer holds `valid`, `name` and `address`, or `actionSucceed: false` with `errorWrappers`
    when VIES could not ask the member state (MS_UNAVAILABLE, TIMEOUT, MS_MAX_CONCURRENT_REQ...)."""

    def __init__(self, *, url: str | None = None, timeout: float | None = None):
        self.url = url or settings.VIES_URL
        if urlsplit(self.url).scheme not in ("https", "http"):
            raise ImproperlyConfigured("VIES_URL must be an https (or http) URL.")
        self.timeout = settings.VIES_TIMEOUT_SECONDS if timeout is None else timeout

    def check(self, country_code: str, number: str) -> VatCheck:
        body = json.dumps({"countryCode": country_code, "vatNumber": number}).encode()
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked above: http or https only)
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                data = json.loads(response.read(MAX_ANSWER_BYTES))
        except (OSError, ValueError, http.client.HTTPException) as error:
            # The number stays out of the log: the country and what went wrong are enough to follow up.
            logger.warning("VIES gave no answer for a %s VAT id: %s", country_code, type(error).__name__)
            return NO_ANSWER
        answer = vies_answer(data)
        if answer.valid is None:
            logger.warning("VIES could not check a %s VAT id: %s", country_code, _vies_errors(data))
        return answer


def vies_answer(data: object) -> VatCheck:
    """What VIES' JSON says: registered, not registered, or nothing concluded (an error reported
    inside a 200, a `userError` other than INVALID, a shape we do not know)."""
    if not isinstance(data, dict) or data.get("actionSucceed") is False or data.get("errorWrappers"):
        return NO_ANSWER
    valid = data.get("valid", data.get("isValid"))
    if valid is True:
        return VatCheck(valid=True, name=_disclosed(data.get("name")), address=_disclosed(data.get("address")))
    if valid is False and data.get("userError") in (None, "", "INVALID"):
        return VatCheck(valid=False)
    return NO_ANSWER


def _disclosed(value: object) -> str:
    text = " ".join(str(value).split()) if isinstance(value, str) else ""
    return "" if text in _NOT_DISCLOSED else text[:255]


def _vies_errors(data: object) -> str:
    if not isinstance(data, dict):
        return "unreadable answer"
    errors = [
        str(wrapper.get("error"))[:40]
        for wrapper in data.get("errorWrappers") or []
        if isinstance(wrapper, dict) and wrapper.get("error")
    ]
    return ", ".join(errors) or str(data.get("userError") or "unreadable answer")[:40]


def vat_checker() -> VatChecker:
    """The checker settings.VAT_ID_CHECKER names (a dotted path to a VatChecker class)."""
    return import_string(settings.VAT_ID_CHECKER)()
