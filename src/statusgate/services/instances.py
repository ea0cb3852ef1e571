"""Instances: create, list, delete, rotate tokens, status access, and authenticating a request."""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass

from sqlalchemy import Connection

from statusgate.domain.instance_settings import InstanceSettings
from statusgate.domain.models import EngineName, Instance
from statusgate.engines import requirements
from statusgate.errors import BadRequestError, ForbiddenError, UnauthorizedError
from statusgate.ids import INT64_MAX, hash_token, new_api_token, new_instance_id, token_matches
from statusgate.services.context import ServiceContext
from statusgate.store import console_sessions as console_store
from statusgate.store import instances as store

_INSTANCE_ID = re.compile(r"[0-9]{1,19}")
#: what instances.name holds
MAX_NAME_CHARS = 100


class UnknownInstanceError(Exception):
    def __init__(self, id_instance: int) -> None:
        super().__init__(f"no instance {id_instance}")


@dataclass(frozen=True)
class Credentials:
    id_instance: int
    api_token: str
    api_url: str
    media_url: str

    def as_json(self) -> dict[str, object]:
        return {
            "idInstance": self.id_instance,
            "apiTokenInstance": self.api_token,
            "apiUrl": self.api_url,
            "mediaUrl": self.media_url,
        }


def _credentials(ctx: ServiceContext, id_instance: int, token: str) -> Credentials:
    url = ctx.settings.effective_public_url
    return Credentials(id_instance, token, url, url)


async def create(
    ctx: ServiceContext,
    *,
    engine: EngineName = EngineName.SANDBOX,
    authorized: bool = False,
    name: str | None = None,
) -> Credentials:
    if authorized and engine is not EngineName.SANDBOX:
        raise BadRequestError("--authorized is for the sandbox engine only")
    backend = ctx.engine(engine)
    install = requirements.missing(engine, ctx.settings)
    if install is not None:
        raise BadRequestError(install)
    token = new_api_token()

    def insert(conn: Connection) -> int:
        if name is not None and not 0 < len(name) <= MAX_NAME_CHARS:
            raise BadRequestError(f"an instance name has 1 to {MAX_NAME_CHARS} characters")
        if name is not None and store.get_by_name(conn, name) is not None:
            raise BadRequestError(f"an instance named {name!r} already exists")
        id_instance = new_instance_id()
        while store.exists(conn, id_instance):
            id_instance = new_instance_id()
        store.insert(
            conn,
            Instance(
                id_instance=id_instance,
                name=name,
                engine=engine,
                token_hash=hash_token(token),
                status_access=True,
                settings=InstanceSettings(delay_ms=ctx.settings.delay_default_ms),
                created_at=time.time(),
            ),
        )
        return id_instance

    id_instance = await ctx.db.write(insert)
    await backend.provision(id_instance, authorized=authorized)
    return _credentials(ctx, id_instance, token)


async def list_all(ctx: ServiceContext) -> list[Instance]:
    return await ctx.db.read(store.list_all)


async def get(ctx: ServiceContext, id_instance: int) -> Instance:
    instance = await ctx.db.read(store.get, id_instance)
    if instance is None:
        raise UnknownInstanceError(id_instance)
    return instance


async def get_by_name(ctx: ServiceContext, name: str) -> Instance | None:
    return await ctx.db.read(store.get_by_name, name)


async def delete(ctx: ServiceContext, id_instance: int) -> None:
    instance = await get(ctx, id_instance)
    await ctx.engine(instance.engine).forget(id_instance)
    await ctx.db.write(store.delete, id_instance)  # queue, journals and uploads go with it (cascade)
    shutil.rmtree(ctx.settings.data_dir / "sessions" / str(id_instance), ignore_errors=True)


async def rotate_token(ctx: ServiceContext, id_instance: int) -> Credentials:
    token = new_api_token()

    def replace(conn: Connection) -> bool:
        if not store.set_token_hash(conn, id_instance, hash_token(token)):
            return False
        # the console sessions opened with the old token end with it
        console_store.delete_for_instance(conn, id_instance)
        return True

    if not await ctx.db.write(replace):
        raise UnknownInstanceError(id_instance)
    return _credentials(ctx, id_instance, token)


async def set_status_access(ctx: ServiceContext, id_instance: int, allowed: bool) -> None:
    if not await ctx.db.write(store.set_status_access, id_instance, allowed):
        raise UnknownInstanceError(id_instance)


class Authenticator:
    """Checks ``idInstance`` + token for each request, with a short cache so changes made by the CLI in
    another process are seen within ``credentials_cache_seconds``."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.ttl = ctx.settings.credentials_cache_seconds
        self._cache: dict[int, tuple[float, Instance | None]] = {}

    async def _load(self, id_instance: int) -> Instance | None:
        now = time.monotonic()
        cached = self._cache.get(id_instance)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        instance = await self.ctx.db.read(store.get, id_instance)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[id_instance] = (now, instance)
        return instance

    def forget(self, id_instance: int) -> None:
        self._cache.pop(id_instance, None)

    async def instance(self, raw_id: str) -> Instance:
        """Step one of every request: the instance must exist (else 403, as Green does)."""
        # ASCII digits only (int() would also read fullwidth and Arabic-Indic ones), within what the
        # database stores
        if not _INSTANCE_ID.fullmatch(raw_id) or int(raw_id) > INT64_MAX:
            raise ForbiddenError()
        instance = await self._load(int(raw_id))
        if instance is None:
            raise ForbiddenError()
        return instance

    @staticmethod
    def check_token(instance: Instance, token: str) -> None:
        if not token_matches(token, instance.token_hash):
            raise UnauthorizedError()


async def update_api_token(ctx: ServiceContext, auth: Authenticator, instance: Instance) -> str:
    """The wire method ``updateApiToken``: the old token stops working at once."""
    credentials = await rotate_token(ctx, instance.id_instance)
    auth.forget(instance.id_instance)
    return credentials.api_token
