"""dj-stripe's mirror of our Stripe events, kept without dj-stripe's own store of API keys.

dj-stripe resolves the Stripe account behind a key by saving the key in `djstripe_apikey.secret`
(in clear), and later reads it back from there to call Stripe. Our keys live encrypted on the
gateway account, so while an event is mirrored dj-stripe is handed the key of the account that
received it, from memory: its table is never written, nor read. dj-stripe (2.11) offers no setting
for this, so its two key lookups are wrapped once; outside `mirror_event` they behave as before.
"""

import contextvars
import hashlib
import threading

_event_key: contextvars.ContextVar[str] = contextvars.ContextVar("stripe_mirror_key", default="")
_account_ids: dict[str, str] = {}  # sha256 of a secret key -> its Stripe account id (never the key)
_installed = threading.Lock()
_done = False


def mirror_event(*, data: dict, api_key: str):
    """dj-stripe's `Event.process` of a verified event, with `api_key` for every call it makes."""
    from djstripe.models import Event

    _install()
    token = _event_key.set(api_key)
    try:
        return Event.process(data=data, api_key=api_key)
    finally:
        _event_key.reset(token)


def _owner_account(account_model, api_key: str):
    """What `Account.get_or_retrieve_for_api_key` does, without saving the key."""
    from djstripe.settings import djstripe_settings

    digest = hashlib.sha256(api_key.encode()).hexdigest()
    known = _account_ids.get(digest)
    account = account_model.objects.filter(id=known).first() if known else None
    if account is not None:
        return account
    data = account_model.stripe_class.retrieve(api_key=api_key, stripe_version=djstripe_settings.STRIPE_API_VERSION)
    _account_ids[digest] = data["id"]
    account, created = account_model.objects.get_or_create(id=data["id"])
    if created:  # a stub first, as dj-stripe does: syncing the account looks its owner up again
        account = account_model.sync_from_stripe_data(data, api_key=api_key)
    return account


def _install() -> None:
    global _done
    with _installed:
        if _done:
            return
        from djstripe.models import Account

        for_key = Account.get_or_retrieve_for_api_key.__func__
        default_key = Account.get_default_api_key

        def get_or_retrieve_for_api_key(cls, api_key: str):
            if api_key and api_key == _event_key.get():
                return _owner_account(cls, api_key)
            return for_key(cls, api_key)

        def get_default_api_key(self, livemode: bool | None = None) -> str:
            return _event_key.get() or default_key(self, livemode)

        Account.get_or_retrieve_for_api_key = classmethod(get_or_retrieve_for_api_key)
        Account.get_default_api_key = get_default_api_key
        _done = True
