"""The mapping of our events' payloads to Xero's calls: contacts, invoices, payments, credit notes."""

from decimal import Decimal

from django.utils import timezone

from integrations.connectors.base import VendorError, VendorUnauthorized
from integrations.connectors.records import latest_customer_payload, latest_plan_payload, record_find, record_for
from integrations.connectors.xero.client import DEFAULT_BASE_URL, DEFAULT_TOKEN_URL, XeroClient
from integrations.connectors.xero.mapping import MAPPING_SCREEN, XeroMapping
from integrations.connectors.xero.tokens import XeroTokenStore
from integrations.models import Connector, ConnectorRecord, Event


def _amount(money: dict | None) -> Decimal:
    return Decimal((money or {}).get("amount") or "0")


def _day(timestamp: str | None) -> str:
    return (timestamp or timezone.now().isoformat())[:10]


def contact_body(customer: dict) -> dict:
    """A Xero contact for one of our customers. Xero wants contact names unique, and two viewers
    may share a name: our customer id goes in the name too (and is the ContactNumber)."""
    customer_id = customer.get("id") or ""
    name = (customer.get("name") or "").strip()
    email = (customer.get("email") or "").strip()
    display = (customer.get("business_name") or "").strip() or name or email or "Customer"
    first, _, last = name.partition(" ")
    body = {
        "Name": f"{display[:200]} ({customer_id})",
        "ContactNumber": customer_id,
        "AccountNumber": (customer.get("external_id") or "")[:50],
        "EmailAddress": email,
        "FirstName": first[:255],
        "LastName": last[:255],
    }
    if customer.get("tax_id"):
        body["TaxNumber"] = str(customer["tax_id"])[:50]
    return body


class XeroHandler:
    """One run's mapping of events to Xero. A customer becomes a contact with their first paid
    invoice (trials that never pay stay out of the ledger) and is updated when they change; every
    Xero object is made once, its id kept on a ConnectorRecord, and each call carries an
    Idempotency-Key of the event and the call, so an event sent again after a failure part-way
    (its record writes rolled back) gets Xero's first answers back instead of duplicates."""

    def __init__(self, connector: Connector):
        self.connector = connector
        credentials = connector.credentials or {}
        missing = [name for name in ("client_id", "client_secret", "refresh_token") if not credentials.get(name)]
        if missing:
            raise VendorUnauthorized(
                f"The Xero connector needs its {', '.join(missing)}: enter them in its credentials."
            )
        settings_ = connector.settings or {}
        if not settings_.get("tenant_id"):
            raise VendorError(f"No Xero tenant id is set: enter the organisation's tenant id on {MAPPING_SCREEN}.")
        self.mapping = XeroMapping.from_settings(settings_)
        self.client = XeroClient(
            client_id=credentials["client_id"],
            client_secret=credentials["client_secret"],
            tenant_id=settings_["tenant_id"],
            store=XeroTokenStore(connector),
            base_url=settings_.get("base_url") or DEFAULT_BASE_URL,
            token_url=settings_.get("token_url") or DEFAULT_TOKEN_URL,
        )

    def close(self) -> None:
        self.client.close()

    def handle(self, event: Event) -> None:
        payload = event.payload or {}
        if event.type.startswith("plan."):
            self._plan_seen(payload.get("plan") or {})
        elif event.type in ("customer.created", "customer.updated", "customer.erased"):
            self._customer_seen(event, payload.get("customer") or {})
        elif event.type == "payment.succeeded":
            self._payment_seen(event, payload.get("payment") or {})
        elif event.type == "invoice.paid":
            self._invoice_paid(event, payload.get("invoice") or {})
        elif event.type == "credit_note.created":
            self._credit_note_created(event, payload.get("credit_note") or {})

    def _record(self, object_type: str, object_id: str) -> ConnectorRecord:
        return record_for(connector=self.connector, object_type=object_type, object_id=object_id)

    @staticmethod
    def _save(record: ConnectorRecord, state: dict) -> None:
        record.state = state
        record.save(update_fields=["state", "external_id", "updated_at"])

    # --- plans and customers

    def _plan_seen(self, plan: dict) -> None:
        if plan.get("id"):
            record = self._record("plan", plan["id"])
            self._save(record, {"code": plan.get("code") or "", "name": plan.get("name") or ""})

    def _customer_seen(self, event: Event, customer: dict) -> None:
        if not event.customer_id:
            return
        record = self._record("customer", event.customer_id)
        state = {**(record.state or {}), "customer": {**customer, "id": event.customer_id}}
        body = contact_body(state["customer"])
        if record.external_id and body != state.get("sent"):
            key = f"{event.id}:contact"
            if self.client.contact_update(contact_id=record.external_id, contact=body, key=key):
                state["sent"] = body
            else:  # deleted in Xero: made again with the next invoice
                record.external_id, state["sent"] = "", None
        self._save(record, state)

    def _contact(self, customer_id: str, event: Event) -> str:
        """The customer's ContactID, the contact made now if it is their first."""
        record = self._record("customer", customer_id)
        if record.external_id:
            return record.external_id
        state = dict(record.state or {})
        customer = state.get("customer") or {**(latest_customer_payload(customer_id) or {}), "id": customer_id}
        body = contact_body(customer)
        record.external_id = self.client.contact_create(contact=body, key=f"{event.id}:contact")
        self._save(record, {**state, "customer": customer, "sent": body})
        return record.external_id

    # --- invoices and payments

    def _payment_seen(self, event: Event, payment: dict) -> None:
        if not payment.get("invoice") or payment.get("status") != "succeeded":
            return
        record = self._record("invoice", payment["invoice"])
        state = dict(record.state or {})
        if not state.get("payment"):  # the one that paid it (a later capture on a paid invoice is refunded)
            state["payment"] = {
                "id": payment.get("id") or "",
                "amount": str(_amount(payment.get("amount"))),
                "date": _day(payment.get("captured_at") or payment.get("created_at")),
            }
        self._save(record, state)
        if record.external_id:
            self._pay(record, state, event)

    def _invoice_paid(self, event: Event, invoice: dict) -> None:
        if not invoice.get("id"):
            return
        record = self._record("invoice", invoice["id"])
        state = dict(record.state or {})
        if not record.external_id:
            customer_id = invoice.get("customer") or event.customer_id
            codes = self._line_codes(invoice, event)
            contact_id = self._contact(customer_id, event)
            inclusive = bool(invoice.get("tax_inclusive"))
            day = _day(invoice.get("finalized_at") or invoice.get("created_at"))
            body = {
                "Type": "ACCREC",
                "Contact": {"ContactID": contact_id},
                "InvoiceNumber": invoice.get("number") or invoice["id"],
                "Reference": invoice["id"],
                "Date": day,
                "DueDate": day,
                "CurrencyCode": invoice.get("currency") or "",
                "Status": "AUTHORISED",
                "LineAmountTypes": "Inclusive" if inclusive else "Exclusive",
                "LineItems": [
                    _line_item(line, codes[index], inclusive) for index, line in enumerate(invoice.get("lines") or [])
                ],
            }
            record.external_id = self.client.invoice_create(invoice=body, key=f"{event.id}:invoice")
            state.update(
                number=body["InvoiceNumber"],
                total=str(_amount(invoice.get("total"))),
                inclusive=inclusive,
                lines=codes,
                paid="0",
                credited="0",
            )
            self._save(record, state)
        self._pay(record, state, event)

    def _pay(self, record: ConnectorRecord, state: dict, event: Event) -> None:
        """The invoice's payment in Xero, once: into the bank/clearing account, our payment id as reference."""
        payment = state.get("payment")
        if not payment or state.get("payment_sent") or Decimal(payment["amount"]) <= 0:
            return
        body = {
            "Invoice": {"InvoiceID": record.external_id},
            "Account": {"Code": self.mapping.payment_account()},
            "Date": payment["date"],
            "Amount": Decimal(payment["amount"]),
            "Reference": payment["id"],
        }
        state["payment_sent"] = self.client.payment_create(payment=body, key=f"{event.id}:payment")
        state["paid"] = str(Decimal(state.get("paid") or "0") + Decimal(payment["amount"]))
        self._save(record, state)

    def _line_codes(self, invoice: dict, event: Event) -> list[dict]:
        """The AccountCode and TaxType of each of the invoice's lines (VendorError naming what is not mapped)."""
        plan_code = self._plan_code(invoice, event)
        tax_status = invoice.get("tax_status") or "not_registered"
        breakdown = invoice.get("tax_breakdown") or []
        country = (breakdown[0].get("country") if breakdown else "") or ""
        return [
            {
                "account_code": self.mapping.account_code(plan_code),
                "tax_type": self.mapping.tax_type(
                    tax_status=tax_status, country=country, rate=Decimal(line.get("tax_rate") or "0")
                ),
            }
            for line in invoice.get("lines") or []
        ]

    def _plan_code(self, invoice: dict, event: Event) -> str:
        """The plan an invoice was for: the subscription event that names it (renewals, upgrades,
        failed renewals); else the plan whose name the first line starts with (a first payment,
        a pass); "" when neither tells."""
        linked = (
            Event.objects.filter(customer_id=event.customer_id, payload__invoice=invoice["id"])
            .filter(type__startswith="subscription.")
            .order_by("seq")
            .only("payload")
            .first()
        )
        plan_id = ((linked.payload or {}).get("subscription") or {}).get("plan") if linked else None
        if plan_id:
            record = record_find(connector=self.connector, object_type="plan", object_id=plan_id)
            plan = record.state if record is not None else latest_plan_payload(plan_id)
            if plan and plan.get("code"):
                return plan["code"]
        description = ((invoice.get("lines") or [{}])[0].get("description") or "").strip()
        named = [
            (record.state.get("name") or "", record.state.get("code") or "")
            for record in ConnectorRecord.objects.filter(connector=self.connector, object_type="plan").only("state")
        ]
        fits = [(name, code) for name, code in named if name and code and description.startswith(name)]
        return max(fits, key=lambda fit: len(fit[0]))[1] if fits else ""  # the longest name that fits

    # --- credit notes

    def _credit_note_created(self, event: Event, note: dict) -> None:
        if not note.get("id"):
            return
        record = self._record("credit_note", note["id"])
        state = dict(record.state or {})
        invoice_record = record_find(
            connector=self.connector, object_type="invoice", object_id=note.get("invoice") or ""
        )
        invoice_state = dict(invoice_record.state or {}) if invoice_record is not None else {}
        total = _amount(note.get("total"))
        if not record.external_id:
            contact_id = self._contact(event.customer_id, event)
            codes = invoice_state.get("lines") or self._invoice_codes_from_outbox(note, event)
            inclusive = bool(invoice_state.get("inclusive"))
            body = {
                "Type": "ACCRECCREDIT",
                "Contact": {"ContactID": contact_id},
                "CreditNoteNumber": note.get("number") or note["id"],
                "Reference": invoice_state.get("number") or note.get("invoice") or "",
                "Date": _day(note.get("created_at")),
                "CurrencyCode": note.get("currency") or "",
                "Status": "AUTHORISED",
                "LineAmountTypes": "Inclusive" if inclusive else "Exclusive",
                "LineItems": [_credit_line_item(line, codes, inclusive) for line in note.get("lines") or []],
            }
            record.external_id = self.client.credit_note_create(credit_note=body, key=f"{event.id}:credit-note")
            self._save(record, state)
        # What the invoice still owes in Xero takes the credit; the rest went back to the card.
        allocated = Decimal(state.get("allocated") or "0")
        if invoice_record is not None and invoice_record.external_id and "allocated" not in state:
            owed = Decimal(invoice_state.get("total") or "0") - Decimal(invoice_state.get("paid") or "0")
            owed -= Decimal(invoice_state.get("credited") or "0")
            allocated = max(Decimal(0), min(owed, total))
            if allocated:
                allocation = {
                    "Invoice": {"InvoiceID": invoice_record.external_id},
                    "Amount": allocated,
                    "Date": _day(note.get("created_at")),
                }
                self.client.allocation_create(
                    credit_note_id=record.external_id, allocation=allocation, key=f"{event.id}:allocation"
                )
                invoice_state["credited"] = str(Decimal(invoice_state.get("credited") or "0") + allocated)
                self._save(invoice_record, invoice_state)
            state["allocated"] = str(allocated)
            self._save(record, state)
        refund = total - allocated
        if refund > 0 and not state.get("refund_sent"):
            body = {
                "CreditNote": {"CreditNoteID": record.external_id},
                "Account": {"Code": self.mapping.payment_account()},
                "Date": _day(note.get("created_at")),
                "Amount": refund,
                "Reference": note.get("refund") or note["id"],
            }
            state["refund_sent"] = self.client.payment_create(payment=body, key=f"{event.id}:refund")
            self._save(record, state)

    def _invoice_codes_from_outbox(self, note: dict, event: Event) -> list[dict]:
        """The line codes of a credit note's invoice that this connector never sent (it was paid
        before the connector's events begin): mapped now from the invoice as the outbox shows it."""
        found = (
            Event.objects.filter(customer_id=event.customer_id, type__startswith="invoice.")
            .filter(payload__invoice__id=note.get("invoice"))
            .order_by("-seq")
            .only("payload")
            .first()
        )
        if found is None:
            raise VendorError(
                f"Credit note {note.get('number') or note['id']} is for invoice {note.get('invoice')}, which neither "
                "Xero nor the outbox holds any more: enter it in Xero by hand, then reset the connector's back-off."
            )
        return self._line_codes(found.payload["invoice"], event)


def _line_item(line: dict, codes: dict, inclusive: bool) -> dict:
    """Quantity * UnitAmount - DiscountAmount = LineAmount, which includes the tax when the invoice's
    prices do (LineAmountTypes Inclusive) and excludes it otherwise."""
    item = {
        "Description": (line.get("description") or "")[:4000],
        "Quantity": Decimal(line.get("quantity") or 1),
        "UnitAmount": _amount(line.get("unit_amount")),
        "AccountCode": codes["account_code"],
        "TaxType": codes["tax_type"],
        "TaxAmount": _amount(line.get("tax")),
        "LineAmount": _amount(line.get("total") if inclusive else line.get("net")),
    }
    discount = _amount(line.get("discount"))
    if discount:
        item["DiscountAmount"] = discount
    return item


def _credit_line_item(line: dict, codes: list[dict], inclusive: bool) -> dict:
    """A credit note's line: the refunded share of one invoice line, with that line's codes."""
    position = int(line.get("invoice_line") or 1)
    mapped = codes[min(max(position, 1), len(codes)) - 1] if codes else {}
    amount = _amount(line.get("total") if inclusive else line.get("net"))
    return {
        "Description": (line.get("description") or "")[:4000],
        "Quantity": Decimal(1),
        "UnitAmount": amount,
        "AccountCode": mapped.get("account_code", ""),
        "TaxType": mapped.get("tax_type", ""),
        "TaxAmount": _amount(line.get("tax")),
        "LineAmount": amount,
    }
