"""High-entropy secrets (API keys, customer tokens) and the hash they are stored as."""

import hashlib
import secrets


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)  # 256 random bits


def secret_hash(raw: str) -> str:
    # 256 random bits need no slow KDF: a plain SHA-256 is a safe at-rest form and a fast lookup key.
    return hashlib.sha256(raw.encode()).hexdigest()
