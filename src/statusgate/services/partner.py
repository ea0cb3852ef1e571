"""Green's Partner API use cases: the partner token, and creating, listing and deleting instances."""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path

from statusgate.domain.instance_settings import SettingsChange
from statusgate.domain.models import EngineName, Instance
from statusgate.errors import BadRequestError
from statusgate.ids import hash_token, token_matches
from statusgate.services import account, instances
from statusgate.services.context import EngineUnavailableError, ServiceContext
from statusgate.store import console_sessions as console_store
from statusgate.store import partner as store

log = logging.getLogger("statusgate.partner")
TOKEN_FILE = "partner-token"  # noqa: S105 - a file name, not a secret


class PartnerTokenFixedError(Exception):
    def __init__(self) -> None:
        super().__init__(
            "the partner token is fixed by the setting STATUSGATE_PARTNER_TOKEN: change it there"
        )


def _token_path(ctx: ServiceContext) -> Path:
    return ctx.settings.data_dir / TOKEN_FILE


def _write_private(path: Path, text: str) -> None:
    """Atomically, and never readable by others: the temporary file is made 0600 before a byte is in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


async def token(ctx: ServiceContext) -> str:
    """The partner token (the same on every call); made on first use, its hash put in the database."""
    fixed = ctx.settings.partner_token
    if fixed:
        current = fixed
    else:
        path = _token_path(ctx)
        try:
            current = path.read_text("ascii").strip()
        except FileNotFoundError:
            current = secrets.token_hex(32)
            _write_private(path, current)
    wanted = hash_token(current)
    if await ctx.db.read(store.get_hash) != wanted:
        await ctx.db.write(store.set_hash, wanted)
    return current


async def rotate(ctx: ServiceContext) -> str:
    if ctx.settings.partner_token:
        raise PartnerTokenFixedError()
    new = secrets.token_hex(32)
    # the database first: should the file write fail, the old token already stops working (fail closed)
    await ctx.db.write(store.set_hash, hash_token(new))
    # the sessions opened with the old token end at their next request anyway (their hash no longer
    # matches); deleting them now leaves nothing of them behind
    await ctx.db.write(console_store.delete_for_scope, "partner")
    _write_private(_token_path(ctx), new)
    return new


class PartnerAuthenticator:
    """Checks a presented partner token against the database's hash, cached ``credentials_cache_seconds``
    so a rotation by another process is seen that soon without a read per request."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.ttl = ctx.settings.credentials_cache_seconds
        self._cached: tuple[float, str] | None = None

    async def _hash(self) -> str:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self.ttl:
            return self._cached[1]
        found = await self.ctx.db.read(store.get_hash)
        if found is None or (
            self.ctx.settings.partner_token and found != hash_token(self.ctx.settings.partner_token)
        ):
            found = hash_token(await token(self.ctx))
        self._cached = (now, found)
        return found

    async def current_hash(self) -> str:
        return await self._hash()

    async def matches(self, presented: str) -> bool:
        return token_matches(presented, await self._hash())


async def create(
    ctx: ServiceContext, engine: EngineName, name: str | None, change: SettingsChange
) -> instances.Credentials:
    try:
        ctx.engine(engine)
    except EngineUnavailableError:
        raise BadRequestError(f"engine {engine.value} is not available on this server") from None
    credentials = await instances.create(ctx, engine=engine, name=name)
    instance = await instances.get(ctx, credentials.id_instance)
    await account.set_settings(ctx, instance, change)
    return credentials


async def list_all(ctx: ServiceContext) -> list[Instance]:
    return await instances.list_all(ctx)


async def delete(ctx: ServiceContext, id_instance: int) -> bool:
    """False when there is no such instance. A linked account is logged out first."""
    try:
        instance = await instances.get(ctx, id_instance)
    except instances.UnknownInstanceError:
        return False
    try:
        await account.logout(ctx, instance)
    except Exception as exc:  # not linked, or no worker alive: the delete still goes ahead
        log.info("instance %s not logged out before its delete: %s", id_instance, exc)
    await instances.delete(ctx, id_instance)
    return True
