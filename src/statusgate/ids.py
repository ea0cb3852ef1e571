"""Identifiers and secrets: instance ids, API tokens (stored only as hashes), status message ids."""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets

#: the largest integer the database stores (SQLite and PostgreSQL BIGINT)
INT64_MAX = 2**63 - 1


def new_instance_id() -> int:
    """Random 10 digits, first digit non-zero (Green's shape)."""
    return secrets.randbelow(9_000_000_000) + 1_000_000_000


def new_api_token() -> str:
    """50 lower-case hex characters."""
    return secrets.token_hex(25)


def hash_token(token: str) -> str:
    # Tokens carry 200 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_matches(token: str, token_hash: str) -> bool:
    """Constant-time comparison of a presented token with a stored hash."""
    return hmac.compare_digest(hash_token(token), token_hash)


# Message ids must be unique, not secret: a per-process generator seeded from the OS is enough, and spares a
# getrandom() system call on every accepted status.
_message_ids = random.Random(secrets.randbits(128))


def new_message_id() -> str:
    """20 upper-case hex characters beginning ``3EB0``, as WhatsApp Web's own ids."""
    return f"3EB0{_message_ids.getrandbits(64):016X}"


def new_wid_number() -> str:
    """A phone-number-like id for a simulated account (never a real country prefix in use: 999)."""
    return "999" + "".join(str(secrets.randbelow(10)) for _ in range(9))


def new_incoming_id() -> str:
    """Ids of statuses other accounts post on the simulated network (WhatsApp phones use 32 hex)."""
    return f"{_message_ids.getrandbits(128):032X}"
