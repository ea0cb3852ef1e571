"""Posting a status to its audience in chunks under our own message id, each chunk recorded around its ack.

The child sends one chunk at a time (:class:`SendChunk`) and answers once WhatsApp's server acknowledged
it; the next chunk waits for that answer and a pause. Before a chunk goes it is recorded ``sending``
(``store.status_chunks``, fenced by the lease), after its answer ``acked`` or ``rejected``; a chunk the
child says never left is discarded. So the records always say who may have the status:

- acked chunks: their recipients have it — the status is ``sent`` to them, whatever happens later;
- a chunk still ``sending`` with nothing under way (the worker or child died, no ack came): it may or may
  not have reached WhatsApp, and it is never sent again;
- a rejected chunk (an ack error such as 479): nobody in it got the status, and nothing after it is sent
  (the error is the account's, so later chunks would fare the same).

A send goes on when its caller stops waiting (the worker's engine timeout): the next attempt asks
:meth:`ChunkedSends.delivered`, which answers pending until it ends, then from the records.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from statusgate.domain.models import DeliveryCheck, DeliveryState, SendOutcome
from statusgate.domain.ownership import Fence
from statusgate.domain.posts import OutgoingStatus
from statusgate.engines.baileys.protocol import ChunkResult, RevokeChunk, SendChunk
from statusgate.engines.sidecar.account import Account
from statusgate.engines.sidecar.framing import PERMANENT, TRANSIENT, Response, from_dict
from statusgate.engines.sidecar.outgoing import send_request
from statusgate.errors import EnginePermanentError, EngineTransientError, LeaseLostError
from statusgate.settings import Settings
from statusgate.store import status_chunks
from statusgate.store.db import Database
from statusgate.store.status_chunks import Chunk, ChunkState

log = logging.getLogger("statusgate.engine.baileys")

UNCERTAIN_ONLY = (
    "the status' send was cut off before WhatsApp acknowledged it (the engine process or the server "
    "stopped, or no ack came in time); WhatsApp may or may not have it — not resent to avoid a duplicate"
)
NO_FENCE = "this worker does not hold the instance's lease: the status is not sent from here"


@dataclass(frozen=True)
class ChunkAnswer:
    """What became of one chunk."""

    #: None: it never left (nothing to record); else the chunk's end state (SENDING: unknown)
    state: ChunkState | None
    result: ChunkResult | None = None
    error: str = ""
    #: ``transient`` or ``permanent``, when it never left
    kind: str = ""


def chunked(recipients: Sequence[str], size: int) -> list[list[str]]:
    """The audience in chunks of ``size``, in order (one empty chunk for an empty list: only our own
    devices get it)."""
    return [list(recipients[i : i + size]) for i in range(0, len(recipients), size)] or [[]]


def outcome_of(chunks: Sequence[Chunk], total: int | None = None) -> SendOutcome | None:
    """What the records say reached WhatsApp: None when no chunk was acked."""
    acked = [c for c in chunks if c.state is ChunkState.ACKED]
    if not acked:
        return None
    recipients = tuple(r for c in acked for r in c.recipients if r not in c.dropped)
    everyone = total if total is not None else sum(len(c.recipients) for c in chunks)
    notes = []
    rejected = [c for c in chunks if c.state is ChunkState.REJECTED]
    if rejected:
        codes = ", ".join(sorted({c.error for c in rejected}))
        notes.append(f"{sum(len(c.recipients) for c in rejected)} rejected by WhatsApp (error {codes})")
    uncertain = [c for c in chunks if c.state is ChunkState.SENDING]
    if uncertain:
        notes.append(f"{sum(len(c.recipients) for c in uncertain)} unconfirmed (no ack)")
    dropped = [d for c in acked for d in c.dropped]
    if dropped:
        notes.append(f"{len(dropped)} left out, encrypting for them failed: {', '.join(dropped)}")
    missing = everyone - sum(len(c.recipients) for c in chunks)
    if missing > 0:
        notes.append(f"{missing} not sent to")
    note = f"sent to {len(recipients)} of {everyone} recipients; " + "; ".join(notes) if notes else ""
    return SendOutcome(recipients, min(c.sent_at for c in chunks), note)


class ChunkedSends:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        #: (instance, our message id) → the send going on
        self._under_way: dict[tuple[int, str], asyncio.Task[SendOutcome]] = {}

    async def send(
        self, account: Account, status: OutgoingStatus, recipients: Sequence[str], fence: Fence | None
    ) -> SendOutcome:
        """``fence``: the sending worker's lease (the status' own, else the one this worker holds)."""
        key = (account.instance_id, status.message_id)
        if key not in self._under_way:
            chunks = await self.db.read(status_chunks.of_status, *key)
            if chunks:
                # an earlier attempt left records: never a second publish
                outcome = outcome_of(chunks)
                if outcome is None:
                    raise EnginePermanentError(UNCERTAIN_ONLY)
                return outcome
            if fence is None:
                raise EnginePermanentError(NO_FENCE)
            if key not in self._under_way:  # another call may have started it while we read
                task = asyncio.get_running_loop().create_task(
                    self._send(account, status, list(recipients), fence)
                )
                self._under_way[key] = task
                task.add_done_callback(lambda _t: self._under_way.pop(key, None))
        # shielded: the chunks go on (and get recorded) when our caller stops waiting
        return await asyncio.shield(self._under_way[key])

    async def delivered(self, instance_id: int, message_id: str) -> DeliveryCheck:
        if (instance_id, message_id) in self._under_way:
            return DeliveryCheck(DeliveryState.PENDING)
        chunks = await self.db.read(status_chunks.of_status, instance_id, message_id)
        if (instance_id, message_id) in self._under_way:
            return DeliveryCheck(DeliveryState.PENDING)
        if not chunks:
            return DeliveryCheck(DeliveryState.NOT_DELIVERED)
        outcome = outcome_of(chunks)
        if outcome is None:
            return DeliveryCheck(DeliveryState.UNKNOWN)
        return DeliveryCheck(DeliveryState.DELIVERED, outcome.recipients)

    async def sent_to(self, instance_id: int, message_id: str) -> list[str]:
        """Everyone a chunk of the status may have reached (acked, or left without an ack)."""
        chunks = await self.db.read(status_chunks.of_status, instance_id, message_id)
        return [r for c in chunks if c.state is not ChunkState.REJECTED for r in c.recipients]

    async def _send(
        self, account: Account, status: OutgoingStatus, recipients: list[str], fence: Fence
    ) -> SendOutcome:
        request = send_request(status)
        parts = chunked(recipients, self.settings.baileys_chunk_size)
        done: list[Chunk] = []
        failed: list[str] = []
        async for index, part in self._paced(parts):
            chunk = SendChunk(request, index, part, *self._wire_options(), last=index == len(parts) - 1)
            try:
                answer = await self._one_chunk(account, fence, status.message_id, index, part, chunk)
            except LeaseLostError as exc:
                log.warning("status %s: chunk %d not sent: %s", status.message_id, index, exc)
                if not done:
                    raise EngineTransientError(str(exc)) from None
                break
            if answer.state is None:
                if not done:
                    error = EnginePermanentError if answer.kind == PERMANENT else EngineTransientError
                    raise error(answer.error)
                log.warning("status %s: chunk %d did not leave: %s", status.message_id, index, answer.error)
                break
            result = answer.result
            if result is not None:
                failed += result.failed_devices
            done.append(
                Chunk(
                    index,
                    tuple(part),
                    answer.state,
                    result.ack_error if result else "",
                    tuple(result.dropped) if result else (),
                    result.sent_at if result else time.time(),
                )
            )
            if answer.state is not ChunkState.ACKED:
                break
        if failed:
            log.warning("status %s: Baileys could not encrypt for %s", status.message_id, ", ".join(failed))
        outcome = outcome_of(done, len(recipients))
        if outcome is not None:
            if outcome.note:
                log.warning("status %s: %s", status.message_id, outcome.note)
            return outcome
        last = done[-1]
        if last.state is ChunkState.REJECTED:
            raise EnginePermanentError(f"WhatsApp refused the status (error {last.error})")
        raise EnginePermanentError(
            UNCERTAIN_ONLY if not answer.error else f"{answer.error}; {UNCERTAIN_ONLY}"
        )

    async def _one_chunk(
        self,
        account: Account,
        fence: Fence,
        message_id: str,
        index: int,
        recipients: list[str],
        request: SendChunk,
    ) -> ChunkAnswer:
        """Record the chunk, have the child send it, record what came of it."""
        await self.db.write(status_chunks.begin, fence, message_id, index, recipients, time.time())
        answer = await self._ask(account, request)
        if answer.state is None:
            await self.db.write(status_chunks.discard, fence, message_id, index)
        elif answer.state is not ChunkState.SENDING:
            assert answer.result is not None
            try:
                await self.db.write(
                    status_chunks.end,
                    fence,
                    message_id,
                    index,
                    answer.state,
                    time.time(),
                    error=answer.result.ack_error,
                    dropped=answer.result.dropped,
                )
            except LeaseLostError:
                # it is out all the same: the record stays `sending`, which the next owner reads as
                # "may have it", and never sends again
                log.warning("status %s: chunk %d's ack not recorded (lease lost)", message_id, index)
        return answer

    async def _ask(self, account: Account, request: SendChunk | RevokeChunk) -> ChunkAnswer:
        child = account.child
        if child is None or not child.alive:
            return ChunkAnswer(None, error="the account is not connected", kind=TRANSIENT)
        timeout = self.settings.baileys_ack_timeout_seconds + self.settings.baileys_request_timeout_seconds
        try:
            answer: Response = await child.request(request, timeout)
        except TimeoutError:
            return ChunkAnswer(ChunkState.SENDING, error="the engine process did not answer in time")
        if answer.ok:
            result = from_dict(ChunkResult, answer.result)
            return ChunkAnswer(ChunkState.REJECTED if result.ack_error else ChunkState.ACKED, result)
        if answer.error_kind in (TRANSIENT, PERMANENT):
            return ChunkAnswer(None, error=answer.error, kind=answer.error_kind)
        # uncertain, died: the stanza may have left
        return ChunkAnswer(ChunkState.SENDING, error=answer.error)

    async def revoke(self, account: Account, message_id: str, recipients: Sequence[str]) -> None:
        """Revoke the status for ``recipients`` in chunks, each acknowledged; raises when one is not."""
        async for index, part in self._paced(chunked(recipients, self.settings.baileys_chunk_size)):
            request = RevokeChunk(message_id, index, part, *self._wire_options())
            answer = await self._ask(account, request)
            if answer.state is ChunkState.ACKED:
                continue
            if answer.state is ChunkState.REJECTED and answer.result is not None:
                raise EnginePermanentError(f"WhatsApp refused the revoke (error {answer.result.ack_error})")
            raise EngineTransientError(answer.error or "the revoke was not acknowledged")

    async def _paced(self, parts: list[list[str]]) -> AsyncIterator[tuple[int, list[str]]]:
        """The chunks in order, the chunk pause between two (a send's and a revoke's alike)."""
        for index, part in enumerate(parts):
            if index:
                await asyncio.sleep(self.settings.baileys_chunk_pause_seconds)
            yield index, part

    def _wire_options(self) -> tuple[str, int]:
        """A chunk request's addressing and ack timeout (ms), from the settings."""
        return self.settings.baileys_addressing, round(self.settings.baileys_ack_timeout_seconds * 1000)

    async def close(self) -> None:
        tasks = list(self._under_way.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
