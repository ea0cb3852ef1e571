"""The states an instance and a status go through, with the transition table the store enforces."""

from __future__ import annotations

from enum import StrEnum


class InstanceState(StrEnum):
    """Green's ``stateInstance`` values."""

    #: not linked to a phone: scan the QR code
    NOT_AUTHORIZED = "notAuthorized"
    #: linked and working: statuses leave
    AUTHORIZED = "authorized"
    #: banned by WhatsApp
    BLOCKED = "blocked"
    #: (re)starting; back within seconds
    STARTING = "starting"
    #: sending suspended for spam-like activity
    YELLOW_CARD = "yellowCard"


class StatusState(StrEnum):
    """Where a status is on its way out."""

    #: accepted and durably stored; media not prepared yet
    QUEUED = "queued"
    #: a worker is fetching / checking / converting its media
    PREPARING = "preparing"
    #: media ready; waiting for its turn, for authorization and for the pacing delay
    READY = "ready"
    #: handed to the engine (audience fixed); may be retried after a crash with the same message id
    SENDING = "sending"
    #: the engine accepted it: final
    SENT = "sent"
    #: preparation or the engine failed for good: final
    FAILED = "failed"
    #: waited longer than the queue retention for authorization: final
    EXPIRED = "expired"
    #: removed by clearMessagesQueue before it started sending: final
    CLEARED = "cleared"
    #: removed by deleteStatus: final
    DELETED = "deleted"


#: every allowed move; ``store.statuses.transition`` refuses any other
STATUS_TRANSITIONS: dict[StatusState, frozenset[StatusState]] = {
    # QUEUED → READY: nothing to prepare (a text status)
    StatusState.QUEUED: frozenset(
        {
            StatusState.PREPARING,
            StatusState.READY,
            StatusState.FAILED,
            StatusState.EXPIRED,
            StatusState.CLEARED,
            StatusState.DELETED,
        }
    ),
    StatusState.PREPARING: frozenset(
        {
            StatusState.READY,
            StatusState.QUEUED,
            StatusState.FAILED,
            StatusState.EXPIRED,
            StatusState.CLEARED,
            StatusState.DELETED,
        }
    ),
    StatusState.READY: frozenset(
        {
            StatusState.SENDING,
            StatusState.FAILED,
            StatusState.EXPIRED,
            StatusState.CLEARED,
            StatusState.DELETED,
        }
    ),
    # SENDING → READY: a retryable engine fault puts it back in line (still the head).
    # SENDING → DELETED: deleteStatus came during a send that then did not go out.
    StatusState.SENDING: frozenset(
        {StatusState.SENT, StatusState.READY, StatusState.FAILED, StatusState.DELETED}
    ),
    StatusState.SENT: frozenset({StatusState.DELETED}),
    # a status that never went out can still be removed from the journal by deleteStatus
    StatusState.FAILED: frozenset({StatusState.DELETED}),
    StatusState.EXPIRED: frozenset({StatusState.DELETED}),
    StatusState.CLEARED: frozenset({StatusState.DELETED}),
    StatusState.DELETED: frozenset(),
}

#: not yet sent: listed by showMessagesQueue, holding the line
PENDING_STATES = frozenset(
    {StatusState.QUEUED, StatusState.PREPARING, StatusState.READY, StatusState.SENDING}
)
#: removable by clearMessagesQueue
CLEARABLE_STATES = frozenset({StatusState.QUEUED, StatusState.PREPARING, StatusState.READY})
#: nothing more will happen to these (but deleteStatus)
FINAL_STATES = frozenset(
    {StatusState.SENT, StatusState.FAILED, StatusState.EXPIRED, StatusState.CLEARED, StatusState.DELETED}
)
#: never went out; reported as ``failed`` with a description
UNSENT_STATES = frozenset({StatusState.FAILED, StatusState.EXPIRED, StatusState.CLEARED})


class InvalidTransition(Exception):
    def __init__(self, old: StatusState, new: StatusState) -> None:
        super().__init__(f"status cannot go from {old} to {new}")


def check_transition(old: StatusState, new: StatusState) -> None:
    if new not in STATUS_TRANSITIONS[old]:
        raise InvalidTransition(old, new)


class ReceiptStatus(StrEnum):
    """Per recipient, in getStatusStatistic; only ever moves forward."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"

    @property
    def rank(self) -> int:
        return _RECEIPT_RANK[self]


_RECEIPT_RANK = {ReceiptStatus.SENT: 0, ReceiptStatus.DELIVERED: 1, ReceiptStatus.READ: 2}
