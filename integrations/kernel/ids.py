"""Opaque, prefixed, time-ordered identifiers (`cus_01j9...`) used as primary keys by every app."""

import secrets
import time

from django.db import models

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_ID_LENGTH = 26  # 48 bits of milliseconds + 80 random bits


def new_id(prefix: str) -> str:
    # Time first keeps B-tree inserts local; 80 random bits keep ids unguessable and unique.
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(_ID_LENGTH):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return f"{prefix}_{''.join(reversed(chars))}"


class ExactCharField(models.CharField):
    """A CharField only ever compared whole (ids, codes): spelled so that PostgreSQL gets no extra
    `varchar_pattern_ops` LIKE index on it, nor on foreign keys to it."""

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return f"character varying({self.max_length})"
        return super().db_type(connection)


class PrefixedIdField(ExactCharField):
    """A primary key holding `new_id(prefix)`; with `primary_key=False, unique=True`, the public id
    of a row whose internal key is a number (what the API shows and looks up)."""

    def __init__(self, *args, prefix: str, **kwargs):
        self.prefix = prefix
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("max_length", len(prefix) + 1 + _ID_LENGTH)
        kwargs["editable"] = False
        super().__init__(*args, **kwargs)

    def get_default(self):
        return new_id(self.prefix)

    def has_default(self):
        return True

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["prefix"] = self.prefix
        kwargs.pop("editable", None)
        if not self.primary_key:  # a public id beside an internal key: primary_key defaults to True here
            kwargs["primary_key"] = False
        return name, path, args, kwargs
