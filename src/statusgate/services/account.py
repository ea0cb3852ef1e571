"""Account use cases: state, settings, contacts, checkWhatsapp, QR, logout, reboot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from statusgate.domain.commands import CheckNumbers, Logout, PairingCode, Reboot, ShowQr
from statusgate.domain.instance_settings import (
    DELAY_KEY,
    WEBHOOK_URL_KEY,
    WEBHOOK_URL_TOKEN_KEY,
    InstanceSettings,
    SettingsChange,
    Switch,
)
from statusgate.domain.models import Contact, Instance, QrAnswer
from statusgate.domain.states import InstanceState
from statusgate.engines.base import SupportsPairingCode
from statusgate.errors import (
    BadRequestError,
    EngineError,
    NotAuthorizedError,
    UnsupportedError,
    ValidationError,
)
from statusgate.services import commands
from statusgate.services.context import ServiceContext
from statusgate.store import instances as store


@dataclass(frozen=True)
class EngineAbilities:
    """What the instance's engine can do, for pages that offer only what works."""

    pairing_code: bool
    #: participants are honoured (else every status goes to the phone's own audience)
    explicit_audience: bool
    revoke: bool


def abilities(ctx: ServiceContext, instance: Instance) -> EngineAbilities:
    engine = ctx.engine(instance.engine)
    return EngineAbilities(
        pairing_code=isinstance(engine, SupportsPairingCode),
        explicit_audience=engine.capabilities.explicit_audience,
        revoke=engine.capabilities.revoke,
    )


async def state(ctx: ServiceContext, instance: Instance) -> InstanceState:
    return await ctx.engine(instance.engine).state(instance.id_instance)


async def _require_authorized(ctx: ServiceContext, instance: Instance) -> None:
    if await state(ctx, instance) is not InstanceState.AUTHORIZED:
        raise NotAuthorizedError()


def settings_view(settings: InstanceSettings, wid: str, delay_default_ms: int) -> dict[str, Any]:
    """getSettings' answer, in Green's key order."""
    view: dict[str, Any] = {
        "wid": wid,
        "countryInstance": "",
        "typeAccount": "",
        WEBHOOK_URL_KEY: settings.webhook_url,
        WEBHOOK_URL_TOKEN_KEY: settings.webhook_url_token,
        DELAY_KEY: settings.delay(delay_default_ms),
        "sharedSession": "no",
        "proxyInstance": "",
    }
    for switch in Switch:
        view[switch.value] = "yes" if settings.on(switch) else "no"
    return view


async def get_settings(ctx: ServiceContext, instance: Instance) -> dict[str, Any]:
    wid = await ctx.engine(instance.engine).wid(instance.id_instance)
    if await state(ctx, instance) is not InstanceState.AUTHORIZED:
        wid = ""
    return settings_view(instance.settings, wid, ctx.settings.delay_default_ms)


async def set_settings(ctx: ServiceContext, instance: Instance, change: SettingsChange) -> None:
    """Apply validated changes at once (no reboot)."""
    url = change.webhook_url
    if url:
        # not at the top: this module serves ``statusgate instance list``, which has no use for httpx
        from statusgate.media.guard import BlockedUrlError, InvalidUrlError

        if not url.lower().startswith(("http://", "https://")):
            raise ValidationError(
                "'webhookUrl' has an invalid format (must be an http:// or https:// link, or \"\")"
            )
        try:
            ctx.guard.check_request_url(url)
        except InvalidUrlError as exc:
            raise ValidationError(f"'webhookUrl' has an invalid format ({exc.reason})") from None
        except BlockedUrlError as exc:
            raise ValidationError(f"'webhookUrl' is not allowed: {exc.message}") from exc

    def update(conn: Connection) -> None:
        current = store.get(conn, instance.id_instance)
        store.set_settings(conn, instance.id_instance, (current or instance).settings.changed(change))

    await ctx.db.write(update)
    ctx.wakeups.instance_changed(instance.id_instance)


async def contacts(
    ctx: ServiceContext, instance: Instance, group: bool | None, count: int | None
) -> list[Contact]:
    await _require_authorized(ctx, instance)
    found = await ctx.engine(instance.engine).contacts(instance.id_instance)
    if group is True:
        found = [c for c in found if c.type == "group"]
    elif group is False:
        found = [c for c in found if c.type != "group"]
    if count is not None and count > 0:
        found = found[:count]
    return found


async def contact(ctx: ServiceContext, instance: Instance, chat_id: str) -> Contact | None:
    """getContactInfo: the account's address-book entry for ``chat_id``, None if it has none."""
    await _require_authorized(ctx, instance)
    found = await ctx.engine(instance.engine).contacts(instance.id_instance)
    return next((c for c in found if c.id == chat_id), None)


async def wa_account(ctx: ServiceContext, instance: Instance) -> tuple[InstanceState, str]:
    """getWaSettings: the account's state and, while it is authorized, its own chat id (else "")."""
    engine = ctx.engine(instance.engine)
    current = await engine.state(instance.id_instance)
    if current is not InstanceState.AUTHORIZED:
        return current, ""
    return current, await engine.wid(instance.id_instance)


async def check_whatsapp(ctx: ServiceContext, instance: Instance, chat_id: str) -> bool:
    await _require_authorized(ctx, instance)
    existing = await commands.run(ctx, instance.id_instance, CheckNumbers((chat_id,)))
    return chat_id in existing


async def qr(ctx: ServiceContext, instance: Instance) -> QrAnswer:
    answer = await commands.run(ctx, instance.id_instance, ShowQr())
    return QrAnswer(answer["type"], answer["message"])


async def authorization_code(ctx: ServiceContext, instance: Instance, phone_number: int) -> str:
    """getAuthorizationCode: the code to type on the phone under "Link with phone number instead"."""
    engine = ctx.engine(instance.engine)
    if not isinstance(engine, SupportsPairingCode):
        raise UnsupportedError(f"the {instance.engine.value} engine cannot link a phone by code; use qr")
    if await state(ctx, instance) is InstanceState.AUTHORIZED:
        raise BadRequestError("instance account already authorized; logout first")
    try:
        code: str = await commands.run(ctx, instance.id_instance, PairingCode(str(phone_number)))
    except EngineError as exc:
        raise BadRequestError(f"no authorization code: {exc.message}") from exc
    return code


async def logout(ctx: ServiceContext, instance: Instance) -> None:
    await commands.run(ctx, instance.id_instance, Logout())


async def reboot(ctx: ServiceContext, instance: Instance) -> None:
    await commands.run(ctx, instance.id_instance, Reboot())
