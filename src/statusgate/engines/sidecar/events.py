"""The engine's events on their way to the queue: state changes, incoming statuses, and receipts, whose
WhatsApp ids are mapped to ours first.

Held in memory (bounded): WhatsApp does not send a receipt twice, so a server crash loses those not yet
handed to the queue (normally less than one poll interval's worth).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from statusgate.domain.models import EngineEvent, ReceiptEvent
from statusgate.domain.states import ReceiptStatus
from statusgate.engines.base import EventHandler
from statusgate.engines.sidecar.frames import Receipt

log = logging.getLogger("statusgate.engine.events")

#: (instance, WhatsApp's ids) → ours for those known; None when the instance is gone
Resolve = Callable[[int, list[str]], Awaitable[dict[str, str] | None]]


class EventBuffer:
    def __init__(self, limit: int, hold_seconds: float) -> None:
        self.limit = limit
        self.hold_seconds = hold_seconds
        self._events: deque[EngineEvent] = deque()
        #: receipts not yet mapped to our ids: (arrived at, instance, receipt)
        self._receipts: deque[tuple[float, int, Receipt]] = deque()
        self.dropped = 0

    def push(self, event: EngineEvent) -> None:
        if len(self._events) >= self.limit:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("event buffer full: %d engine events dropped so far", self.dropped)
            return
        self._events.append(event)

    def receipt(self, instance_id: int, receipt: Receipt) -> None:
        self._receipts.append((time.monotonic(), instance_id, receipt))

    async def map_receipts(self, resolve: Resolve) -> None:
        """Receipts carry WhatsApp's ids: map them to ours; keep the unknown ones a while (a receipt can
        arrive before the send's answer), then drop them (statuses posted from the phone itself)."""
        if not self._receipts:
            return
        pending, self._receipts = list(self._receipts), deque()
        held_until = time.monotonic() - self.hold_seconds
        for instance_id, group in itertools.groupby(sorted(pending, key=lambda p: p[1]), key=lambda p: p[1]):
            items = list(group)
            ours = await resolve(instance_id, sorted({wa for _, _, r in items for wa in r.wa_message_ids}))
            if ours is None:
                continue
            for arrived, _, r in items:
                for wa in r.wa_message_ids:
                    if wa in ours:
                        status = ReceiptStatus(r.status)
                        self.push(ReceiptEvent(instance_id, ours[wa], r.participant, status, r.at))
                unknown = [wa for wa in r.wa_message_ids if wa not in ours]
                if unknown and arrived > held_until:
                    self._receipts.append(
                        (arrived, instance_id, Receipt(unknown, r.participant, r.status, r.at))
                    )

    async def drain(self, handler: EventHandler, limit: int) -> int:
        if not self._events:
            return 0
        batch = list(itertools.islice(self._events, limit))
        handled = await handler(batch)
        # nothing but this method takes from the left, so the batch is still the head of the deque
        for _ in batch:
            self._events.popleft()
        again = [event for event, ok in zip(batch, handled, strict=True) if not ok]
        self._events.extendleft(reversed(again))
        return len(batch) - len(again)
