"""The queue and its statuses: showMessagesQueue, clearMessagesQueue, deleteStatus, statistics."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection

from statusgate.domain.commands import RevokeStatus
from statusgate.domain.models import Instance
from statusgate.domain.posts import MediaPost, StatusPost, TextPost, status_type
from statusgate.domain.states import InstanceState, ReceiptStatus, StatusState
from statusgate.errors import BadRequestError, EngineError, NotAuthorizedError, UnsupportedError
from statusgate.services import commands
from statusgate.services.context import ServiceContext
from statusgate.store import outbox, recipients


def green_fields(post: StatusPost) -> dict[str, Any]:
    """The post as its request's fields (Green's names, only those the author sent): showMessagesQueue's
    ``body``. The inverse of ``api.requests``; a round-trip test keeps the two in step."""
    fields: dict[str, Any] = {}

    def put(name: str, value: object) -> None:
        if value is not None:
            fields[name] = list(value) if isinstance(value, tuple) else value

    if isinstance(post, TextPost):
        put("message", post.message)
        put("backgroundColor", post.background_color)
        put("font", post.font)
    elif isinstance(post, MediaPost):
        put("urlFile", post.url_file)
        put("fileName", post.file_name)
        put("caption", post.caption)
    else:
        put("urlFile", post.url_file)
        put("fileName", post.file_name)
        put("backgroundColor", post.background_color)
    put("participants", post.participants)
    return fields


async def show_queue(ctx: ServiceContext, instance: Instance) -> list[dict[str, Any]]:
    rows = await ctx.db.read(outbox.list_pending, instance.id_instance, ctx.settings.queue_list_limit)
    return [
        {"messageID": r.id_message, "type": status_type(r.post).value, "body": green_fields(r.post)}
        for r in rows
    ]


async def queue_count(ctx: ServiceContext, instance: Instance) -> int:
    """getMessagesCount: the statuses showMessagesQueue shows, all of them (it lists the first
    ``queue_list_limit``)."""
    return await ctx.db.read(outbox.count_pending, instance.id_instance)


async def clear_queue(ctx: ServiceContext, instance: Instance) -> int:
    """Remove every status that has not started sending; returns how many."""
    now = time.time()

    def clear(conn: Connection) -> int:
        cleared = 0
        for row in outbox.clearable(conn, instance.id_instance):
            if outbox.transition(
                conn,
                row.seq,
                row.state,
                StatusState.CLEARED,
                now,
                description="removed by clearMessagesQueue before it was sent",
                lease_owner=None,
                lease_expires_at=None,
            ):
                cleared += 1
        return cleared

    cleared = await ctx.db.write(clear)
    ctx.wakeups.instance_changed(instance.id_instance)
    return cleared


async def statistics(ctx: ServiceContext, instance: Instance, id_message: str) -> list[dict[str, Any]]:
    def query(conn: Connection) -> list[tuple[str, str, float]]:
        row = outbox.get_by_message_id(conn, instance.id_instance, id_message)
        return [] if row is None else recipients.statistics(conn, row.seq)

    rows = await ctx.db.read(query)
    return [
        {"participant": participant, "timestamp": int(at), "status": ReceiptStatus(status).value}
        for participant, status, at in rows
    ]


async def delete_status(ctx: ServiceContext, instance: Instance, id_message: str) -> None:
    """deleteStatus: a queued status is removed; one being sent is revoked when its send ends; a sent one
    is revoked now (the phone must be linked). Statistics keep their history."""
    row = await ctx.db.read(outbox.get_by_message_id, instance.id_instance, id_message)
    if row is None or row.state is StatusState.DELETED:
        raise BadRequestError("ID message notfound")
    now = time.time()
    if row.state is StatusState.SENDING:
        if await ctx.db.write(outbox.request_delete, row.seq):
            return
        row = await ctx.db.read(outbox.get_by_message_id, instance.id_instance, id_message)
        assert row is not None
    if row.state is StatusState.SENT:
        engine = ctx.engine(instance.engine)
        if not engine.capabilities.revoke:
            raise UnsupportedError(f"the {instance.engine.value} engine cannot delete a sent status")
        if await engine.state(instance.id_instance) is not InstanceState.AUTHORIZED:
            raise NotAuthorizedError()
        try:
            revoke = RevokeStatus(id_message, tuple(row.recipients or ()))
            await commands.run(ctx, instance.id_instance, revoke)
        except EngineError as exc:
            raise BadRequestError(f"the status could not be deleted: {exc.message}") from exc
    current = row

    def delete(conn: Connection) -> bool:
        return outbox.transition(
            conn,
            current.seq,
            current.state,
            StatusState.DELETED,
            now,
            description="deleted by deleteStatus",
            lease_owner=None,
            lease_expires_at=None,
        )

    deleted = await ctx.db.write(delete)
    if not deleted:  # it moved on meanwhile (e.g. started sending): look again
        await delete_status(ctx, instance, id_message)
    ctx.wakeups.instance_changed(instance.id_instance)
