"""Status use cases: queue a status, show and clear the queue, per-recipient statistics."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from statusgate.domain.models import Instance, StatusType
from statusgate.domain.states import ReceiptStatus, StatusState
from statusgate.errors import UnsupportedError, ValidationError
from statusgate.ids import new_message_id
from statusgate.media.guard import BlockedUrlError
from statusgate.media.kinds import kind_for_file_name
from statusgate.services.runtime import Runtime
from statusgate.store import outbox
from statusgate.store.outbox import NewStatus


@dataclass(frozen=True)
class MediaStatusRequest:
    url_file: str
    file_name: str
    caption: str | None = None
    participants: tuple[str, ...] | None = None

    def body(self) -> dict[str, Any]:
        """The request's fields as sent, for showMessagesQueue."""
        body: dict[str, Any] = {"urlFile": self.url_file, "fileName": self.file_name}
        if self.caption is not None:
            body["caption"] = self.caption
        if self.participants is not None:
            body["participants"] = list(self.participants)
        return body


def _check_url(rt: Runtime, url: str) -> None:
    if rt.is_own_media_url(url):
        return  # read from the media store, never fetched
    try:
        rt.guard.check_request_url(url)
    except BlockedUrlError as exc:
        raise ValidationError(f"'urlFile' is not allowed: {exc.message}") from exc


def _check_audience(rt: Runtime, instance: Instance, participants: tuple[str, ...] | None) -> None:
    engine = rt.engine(instance.engine)
    if participants and not engine.capabilities.explicit_audience:
        # refuse rather than silently widen who sees the status
        raise UnsupportedError(
            f"the {instance.engine.value} engine cannot restrict a status to 'participants': it always "
            "posts to the status audience set on the phone; send without 'participants' or use another engine"
        )


async def send_media_status(rt: Runtime, instance: Instance, request: MediaStatusRequest) -> str:
    """Queue a picture, video or audio status; returns its idMessage once it is durably stored."""
    kind = kind_for_file_name(request.file_name)
    if kind is None:  # the schema checks the extension too; this keeps the service safe on its own
        raise ValidationError("'fileName' has an invalid format (unsupported extension)")
    _check_url(rt, request.url_file)
    _check_audience(rt, instance, request.participants)
    id_message = new_message_id()
    now = time.time()
    await rt.intake.submit(
        NewStatus(
            instance_id=instance.id_instance,
            id_message=id_message,
            type=StatusType.MEDIA.value,
            body=request.body(),
            kind=kind.value,
            now=now,
            expires_at=now + rt.settings.queue_retention_seconds,
        )
    )
    rt.wake()  # the supervisor starts its preparation (and a sender if the queue was empty)
    return id_message


async def show_queue(rt: Runtime, instance: Instance) -> list[dict[str, Any]]:
    rows = await rt.db.read(outbox.list_pending, instance.id_instance, rt.settings.queue_list_limit)
    return [{"messageID": r.id_message, "type": r.type, "body": r.body} for r in rows]


async def clear_queue(rt: Runtime, instance: Instance) -> int:
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

    cleared = await rt.db.write(clear)
    rt.wake(instance.id_instance)
    return cleared


async def statistics(rt: Runtime, instance: Instance, id_message: str) -> list[dict[str, Any]]:
    def query(conn: Connection) -> list[tuple[str, str, float]]:
        row = outbox.get_by_message_id(conn, instance.id_instance, id_message)
        return [] if row is None else outbox.statistics(conn, row.seq)

    rows = await rt.db.read(query)
    return [
        {"participant": participant, "timestamp": int(at), "status": ReceiptStatus(status).value}
        for participant, status, at in rows
    ]
