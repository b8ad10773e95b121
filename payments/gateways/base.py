"""The gateway edge: one small typed interface; frozen results cross it, services decide what they mean.

Amounts cross as `Money`; a gateway converts to integer minor units inside its own module only.
"""

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date

from moneyed import Money


class ChargeStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    REQUIRES_ACTION = "requires_action"
    FAILED = "failed"
    UNKNOWN = "unknown"  # timeout, lost answer: ask again later, never charge again blindly


class RefundStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"  # the gateway took it and will say later (a webhook, a lookup)
    FAILED = "failed"
    UNKNOWN = "unknown"  # timeout, lost answer: the refund may or may not exist at the gateway
    NOT_FOUND = "not_found"  # a lookup only: the gateway positively holds no such refund


@dataclass(frozen=True)
class CardDetails:
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str = ""
    country: str = ""  # the issuing country (ISO 3166-1 alpha-2), evidence of where the customer is; "" unknown


@dataclass(frozen=True)
class AttachResult:
    reference: str
    card: CardDetails


@dataclass(frozen=True)
class ChargeRequest:
    amount: Money
    idempotency_key: str
    payment_method_reference: str
    customer_reference: str = ""
    off_session: bool = False
    return_url: str = ""
    description: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ChargeResult:
    status: ChargeStatus
    reference: str = ""
    action_url: str = ""
    decline_code: str = ""
    message: str = ""
    fee: Money | None = None


@dataclass(frozen=True)
class RefundResult:
    status: RefundStatus
    reference: str = ""
    message: str = ""


@dataclass(frozen=True)
class PayoutNotice:
    """Money the gateway sent to the operator's bank."""

    reference: str
    amount: Money
    arrival_date: date


@dataclass(frozen=True)
class WebhookNotice:
    """A verified gateway notification, parsed by its gateway into what our services act on: a
    charge that moved (ask the gateway where it stands), a refund that reached its end, a payout."""

    event_id: str
    type: str
    payment_reference: str = ""
    refund: RefundResult | None = None
    refund_key: str = ""  # the idempotency key (our refund's id) the gateway keeps with the refund
    payout: PayoutNotice | None = None
    charge: ChargeResult | None = None  # the charge's outcome itself, from gateways that cannot be asked (Adyen)
    charge_key: str = ""  # ... and the idempotency key of our attempt it answers
    chargeback: tuple[str, str, Money] | None = None  # (payment reference, chargeback reference, amount taken back)
    raw: dict = field(default_factory=dict)


class GatewayError(Exception):
    """The gateway refused a request that is not a card decline (bad token, bad credentials)."""

    def __init__(self, message: str, *, code: str = "gateway_error"):
        super().__init__(message)
        self.code = code


class GatewayUnavailable(GatewayError):
    """The gateway gave no answer (timeouts, connection errors, 5xx): not a decline. New cards
    and first payments fail over to a backup account; nothing is known to have happened."""

    def __init__(self, message: str = "The payment gateway did not answer.", *, code: str = "gateway_unavailable"):
        super().__init__(message, code=code)


class CardDeclined(GatewayError):
    """The card was refused while attaching it (`code` is the decline code)."""


class WebhookRejected(Exception):
    """A webhook that is unsigned, wrongly signed or too old: nothing of it is stored."""


class Gateway(ABC):
    """One provider. Instances are made per gateway account with its decrypted credentials.

    Optional capabilities are declared, never sniffed: a gateway that sets `supports_batch`
    implements `charge_many`, `supports_fees` implements `balance_for`, `supports_payouts`
    implements `payout_payment_references`, `supports_setup` implements `setup` for real,
    `supports_refund_lookup` implements `refund_lookup`."""

    provider: str = ""
    supports_batch: bool = False  # many off-session charges in one call (the billing engine's batch path)
    supports_fees: bool = False  # the fee and net of a captured charge can be asked for
    supports_payouts: bool = False  # a payout lists the charges it settled
    supports_setup: bool = False  # a card can be authenticated for later charges without a charge
    supports_refund_lookup: bool = False  # a refund can be found by its reference or our idempotency key
    supports_outage_drill: bool = False  # `account.outage_drill` makes it answer nothing (the sandbox)
    # A charge sent again under its idempotency key answers the first one's result, or is made
    # then if the first never arrived; never twice (Adyen keeps keys for at least 7 days). For a
    # gateway that cannot be asked where a charge stands, that is how reconciliation learns it.
    replays_by_key: bool = False

    disabled_message = "This gateway is not enabled on this deployment."
    webhook_answer: str = ""  # the body its notifications must be answered with ("" -> our JSON)

    @classmethod
    def enabled(cls) -> bool:
        """Whether this provider may take customers and charges on this deployment."""
        return True

    def __init__(self, account):
        self.account = account
        self.credentials = account.credentials or {}

    @abstractmethod
    def client_config(self) -> dict:
        """What a client app needs to tokenize a card with this gateway (public values only)."""

    @abstractmethod
    def attach(self, *, token: str, customer_reference: str = "", currency: str = "") -> AttachResult:
        """Turn a token from the app into a reusable payment method reference (`currency`: the
        customer's, for gateways that verify the card with a zero-value payment). Raises
        CardDeclined, GatewayError, or GatewayUnavailable when the gateway gave no answer."""

    def customer_reference(self, *, customer) -> str:
        """The customer's id at the gateway, for gateways that have customers ('' otherwise)."""
        return ""

    def detach(self, *, reference: str, customer_reference: str = "") -> bool:
        """Stop keeping the card `reference` for us (removed, or its owner erased). True once the
        gateway holds it no more (already gone counts); False when it gave no answer (try again).
        Gateways that keep no cards of their own have nothing to do."""
        return True

    def customer_forget(self, *, customer_reference: str) -> bool:
        """Delete the customer's record at the gateway (erasure); True once it is gone, as `detach`."""
        return True

    @abstractmethod
    def charge(self, request: ChargeRequest) -> ChargeResult: ...

    @abstractmethod
    def lookup(self, *, reference: str, idempotency_key: str, customer_reference: str = "") -> ChargeResult:
        """The current state of a charge, by the gateway's reference or, when the answer to the
        charge was lost, by our idempotency key (reconciliation, the outcome of an authentication).
        A charge the gateway never received answers FAILED with `processing_error`."""

    @abstractmethod
    def refund(self, *, reference: str, amount: Money, idempotency_key: str) -> RefundResult:
        """Refund `amount` of the charge `reference`. The idempotency key is our refund's id; the
        gateway keeps it with the refund (Stripe: `metadata[refund_id]`) so `refund_lookup` can find
        the refund when the answer to this call is lost."""

    def refund_lookup(self, *, reference: str, payment_reference: str, idempotency_key: str) -> RefundResult:
        """Where a refund stands (`supports_refund_lookup`): by the gateway's reference or, when the
        answer to its creation was lost, by our idempotency key among the charge's refunds. Never
        creates one. NOT_FOUND only when the gateway positively holds no such refund; UNKNOWN when
        it cannot say (a gateway without lookups: wait for its webhook)."""
        return RefundResult(RefundStatus.UNKNOWN)

    def setup(
        self,
        *,
        payment_method_reference: str,
        idempotency_key: str,
        customer_reference: str = "",
        return_url: str = "",
        currency: str = "",
    ) -> ChargeResult:
        """Authenticate a card for later off-session payments without charging it (Stripe's
        SetupIntent, Adyen's zero-value payment: a free trial behind a card). SUCCEEDED,
        REQUIRES_ACTION + URL, or FAILED."""
        return ChargeResult(ChargeStatus.SUCCEEDED)

    def authentication_complete(self, *, reference: str, idempotency_key: str, params: dict) -> ChargeResult:
        """The cardholder is back on our return page from 3-D Secure with what the gateway put in
        the URL (`params`); where the gateway needs us to finish the payment (Adyen's
        `/payments/details`) it does here. Others only answer where the charge stands."""
        return self.lookup(reference=reference, idempotency_key=idempotency_key)

    def charge_many(self, requests: list[ChargeRequest]) -> list[ChargeResult]:
        """One result per request, in order (only where `supports_batch`)."""
        raise NotImplementedError(f"{self.provider} does not charge in batches")

    def balance_for(self, *, reference: str) -> tuple[Money, Money] | None:
        """(fee, net) of a captured charge, None while the gateway has not settled it (`supports_fees`)."""
        return None

    def payout_payment_references(self, *, payout_reference: str) -> list[str]:
        """The charges a payout settled, by their references (`supports_payouts`)."""
        return []

    def cancel(self, *, reference: str, idempotency_key: str) -> ChargeResult:
        """Call off a charge still waiting for the customer, so that a late answer to its 3-D Secure
        challenge cannot capture it; answers the charge's state afterwards (SUCCEEDED if the customer
        finished first). A gateway that cannot call charges off only answers their state."""
        return self.lookup(reference=reference, idempotency_key=idempotency_key)

    def parse_webhook(self, *, body: bytes, headers: dict) -> WebhookNotice:
        """Verify the signature (WebhookRejected before anything is stored) and parse the event."""
        raise WebhookRejected(f"{self.provider} sends no webhooks")

    def webhook_record(self, notice: WebhookNotice) -> None:
        """Keep the provider library's own copy of a verified event (dj-stripe's mirror), inside the
        transaction that processes it. Most gateways keep none."""
        return

    @classmethod
    def default_credentials(cls) -> dict:
        """Credentials a new account starts with (the sandbox makes its own keys)."""
        return {}

    @classmethod
    def secret_credential_names(cls) -> tuple[str, ...]:
        return ()

    @classmethod
    def credential_names(cls) -> tuple[str, ...]:
        """Every credential an account of this provider takes, in the order the admin form shows them."""
        return ()
