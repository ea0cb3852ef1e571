"""What the CLI's sandbox commands do as the simulated network's other phones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from statusgate.domain.models import EngineName, Instance
from statusgate.domain.posts import FONTS
from statusgate.errors import UnsupportedError, ValidationError
from statusgate.media.kinds import kind_for_file_name
from statusgate.services import media
from statusgate.services.context import ServiceContext
from statusgate.services.journals import TYPE_MESSAGE


async def post_text(
    ctx: ServiceContext, instance_id: int, sender: str, text: str, background: str, font: str
) -> str:
    if not text:
        raise ValidationError("--text must not be empty")
    if font not in FONTS:
        raise ValidationError(f"--font must be one of {', '.join(FONTS)}")
    payload = {
        "typeMessage": "extendedTextMessage",
        "text": text,
        "backgroundColor": background,
        "font": font,
    }
    return await ctx.sandbox.post_incoming(instance_id, sender, payload)


async def post_media(
    ctx: ServiceContext, instance_id: int, sender: str, path: Path, caption: str | None
) -> str:
    """The file goes through the same preparation as an outgoing status (checked, converted, thumbnail)."""
    kind = kind_for_file_name(path.name)
    if kind is None:
        raise ValidationError(f"{path.name}: not a picture, video or audio file name")
    url = await media.store_file(
        ctx, path, path.name, instance_id=instance_id, keep_seconds=ctx.settings.journal_retention_seconds
    )
    prepared = await ctx.preparer.prepare(url, path.name, kind, status=f"incoming {path.name}")
    await ctx.prepared.record(prepared)
    payload: dict[str, Any] = {
        "typeMessage": TYPE_MESSAGE[prepared.kind],
        "media_id": prepared.media_id,
        "fileName": path.name,
        "mimeType": prepared.mime_type,
    }
    if caption:
        payload["caption"] = caption
    return await ctx.sandbox.post_incoming(instance_id, sender, payload)


async def simulate_scan(ctx: ServiceContext, instance: Instance) -> None:
    """The console's "Simulate scan": the sandbox's phone scans the QR code and the account is linked."""
    if instance.engine is not EngineName.SANDBOX:
        raise UnsupportedError("only a sandbox instance has a simulated phone to scan with")
    await ctx.sandbox.scan(instance.id_instance)
    ctx.wakeups.instance_changed(instance.id_instance)
