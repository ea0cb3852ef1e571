"""Console sign-in: server-side sessions, opened with the partner token or one instance's token.

The browser holds a random id only; the database holds its hash, the scope, a CSRF token and the hash of the
token it was opened with — so a rotation of that token, made on any node or by the CLI, ends the session at
its next request, and a delete of the instance ends its sessions with it (the foreign key cascades).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from statusgate.domain.models import Instance
from statusgate.ids import hash_token, token_matches
from statusgate.services import instances
from statusgate.services.context import ServiceContext
from statusgate.services.partner import PartnerAuthenticator
from statusgate.store import console_sessions as store
from statusgate.store import instances as instances_store

#: last_seen_at is written at most this often per session (or a tenth of the idle lifetime, when that is
#: shorter: a session in use must not end as idle): a page that polls is not a write a second
TOUCH_EVERY_SECONDS = 30.0


class Scope(StrEnum):
    #: signed in with the partner token: every instance
    PARTNER = "partner"
    #: signed in with one instance's id and API token: that instance only
    INSTANCE = "instance"


@dataclass(frozen=True)
class ConsoleSession:
    scope: Scope
    id_instance: int | None
    csrf_token: str

    def may_open(self, id_instance: int) -> bool:
        return self.scope is Scope.PARTNER or self.id_instance == id_instance

    def csrf_matches(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), self.csrf_token.encode())


@dataclass(frozen=True)
class SignIn:
    """A new session: ``cookie`` goes to the browser (and nowhere else)."""

    cookie: str
    session: ConsoleSession


async def _open(ctx: ServiceContext, scope: Scope, id_instance: int | None, credential_hash: str) -> SignIn:
    cookie = secrets.token_urlsafe(32)
    now = time.time()
    row = store.SessionRow(
        id_hash=hash_token(cookie),
        scope=scope.value,
        id_instance=id_instance,
        credential_hash=credential_hash,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
    )
    await ctx.db.write(store.insert, row)
    return SignIn(cookie, ConsoleSession(scope, id_instance, row.csrf_token))


async def sign_in_partner(ctx: ServiceContext, partner: PartnerAuthenticator, token: str) -> SignIn | None:
    if not await partner.matches(token):
        return None
    return await _open(ctx, Scope.PARTNER, None, await partner.current_hash())


async def sign_in_instance(ctx: ServiceContext, id_instance: int, token: str) -> SignIn | None:
    try:
        instance = await instances.get(ctx, id_instance)
    except instances.UnknownInstanceError:
        # the same work as a wrong token, so the answer's timing does not tell which instances exist
        token_matches(token, "0" * 64)
        return None
    if not token_matches(token, instance.token_hash):
        return None
    return await _open(ctx, Scope.INSTANCE, id_instance, instance.token_hash)


async def resolve(ctx: ServiceContext, partner: PartnerAuthenticator, cookie: str) -> ConsoleSession | None:
    """The session the cookie names, if it is still good: within both lifetimes, and opened with a token
    that is still the current one. A session that is no longer good is deleted."""
    if not cookie:
        return None
    id_hash = hash_token(cookie)
    row = await ctx.db.read(store.get, id_hash)
    if row is None:
        return None
    now = time.time()
    settings = ctx.settings
    current = await _current_credential(ctx, partner, row)
    if (
        now - row.last_seen_at > settings.console_idle_seconds
        or now - row.created_at > settings.console_max_seconds
        or current is None
        or not hmac.compare_digest(current, row.credential_hash)
    ):
        await ctx.db.write(store.delete, id_hash)
        return None
    if now - row.last_seen_at > min(TOUCH_EVERY_SECONDS, settings.console_idle_seconds / 10):
        await ctx.db.write(store.touch, id_hash, now)
    return ConsoleSession(Scope(row.scope), row.id_instance, row.csrf_token)


async def _current_credential(
    ctx: ServiceContext, partner: PartnerAuthenticator, row: store.SessionRow
) -> str | None:
    if row.scope == Scope.PARTNER.value:
        return await partner.current_hash()
    if row.id_instance is None:
        return None
    found: Instance | None = await ctx.db.read(instances_store.get, row.id_instance)
    return None if found is None else found.token_hash


async def sign_out(ctx: ServiceContext, cookie: str) -> None:
    if cookie:
        await ctx.db.write(store.delete, hash_token(cookie))


async def end_instance_sessions(ctx: ServiceContext, id_instance: int) -> None:
    """After the instance's token is replaced: the browsers signed in with the old one are signed out."""
    await ctx.db.write(store.delete_for_instance, id_instance)


async def end_partner_sessions(ctx: ServiceContext) -> None:
    await ctx.db.write(store.delete_for_scope, Scope.PARTNER.value)


async def prune(ctx: ServiceContext, now: float | None = None) -> int:
    """Delete the sessions past either lifetime that no browser came back with (the sweeper's job)."""
    now = time.time() if now is None else now
    return await ctx.db.write(
        store.delete_stale, now - ctx.settings.console_idle_seconds, now - ctx.settings.console_max_seconds
    )
