"""The child's adapter around one neonize client: requests in, neonize calls out, neonize events translated.

Child side only (imports neonize). Every vendor type stops here: what leaves is a ``protocol`` frame.

Go dereferences its client without nil checks in several calls (``get_all_contacts``/``get_me`` before a
connection, anything after a failed connect or ``stop()``); such a panic aborts the whole process. So each
call is gated on what the events said: contacts, numbers, sends and revokes only while connected;
``PairPhone`` only once the first QR code proved the pairing connection is up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from neonize._binder import ProxySettings
from neonize.events import (
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    ReceiptEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.proto.Neonize_pb2 import JID, ConnectFailureReason, PairStatus
from neonize.proto.Neonize_pb2 import Receipt as ReceiptProto
from neonize.utils.jid import JIDToNonAD, build_jid

from statusgate.engines.whatsapp import messages
from statusgate.engines.whatsapp.protocol import (
    PERMANENT,
    TRANSIENT,
    UNCERTAIN,
    Banned,
    CheckNumbers,
    CheckNumbersResult,
    Connected,
    ConnectFailed,
    ContactRecord,
    Contacts,
    ContactsResult,
    Disconnected,
    Done,
    Event,
    Hello,
    Incoming,
    LoggedOut,
    Logout,
    Paired,
    PairPhone,
    PairPhoneResult,
    QrCode,
    Receipt,
    Request,
    Response,
    Revoke,
    SendResult,
    SendStatus,
    Shutdown,
)

log = logging.getLogger("statusgate.engine.whatsapp.child")

STATUS_BROADCAST = build_jid("status", "broadcast")
PN_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
#: receipt types that count for statistics; PLAYED is a voice status listened to, i.e. read
RECEIPT_STATUS = {
    ReceiptProto.DELIVERED: "delivered",
    ReceiptProto.READ: "read",
    ReceiptProto.PLAYED: "read",
}
#: whatsmeow's answer when none of the queried numbers is known at all
NOTHING_RETURNED = "Function returned nothing."


class RequestFailed(Exception):
    def __init__(self, message: str, kind: str = TRANSIENT) -> None:
        super().__init__(message)
        self.kind = kind


def _seconds(timestamp: int) -> float:
    """neonize's timestamps are Unix seconds; a millisecond value (a future format change) is scaled."""
    if not timestamp:
        return time.time()
    return timestamp / 1000 if timestamp > 10**11 else float(timestamp)


def is_status_broadcast(jid: JID) -> bool:
    return bool(jid.User == STATUS_BROADCAST.User and jid.Server == STATUS_BROADCAST.Server)


class Session:
    def __init__(self, client: Any, hello: Hello, emit: Callable[[Event], None]) -> None:
        self.client = client
        self.hello = hello
        self.emit = emit
        self._lock = threading.Lock()
        self.connected = False
        #: connect() returned or failed, or the account logged out: the Go client must not be touched
        self.dead = False
        self.qr_seen = False
        self._register()

    # --- lifecycle -------------------------------------------------------------------------------------------

    def _register(self) -> None:
        event = self.client.event
        event.qr(self._on_qr)
        # one handler per event type (a second registration replaces the first), fixed at connect()
        event(PairStatusEv)(self._on_pair_status)
        event(ConnectedEv)(self._on_connected)
        event(DisconnectedEv)(self._on_disconnected)
        event(LoggedOutEv)(self._on_logged_out)
        event(TemporaryBanEv)(self._on_temporary_ban)
        event(ConnectFailureEv)(self._on_connect_failure)
        event(StreamReplacedEv)(self._on_stream_replaced)
        event(ClientOutdatedEv)(self._on_client_outdated)
        event(ReceiptEv)(self._on_receipt)
        event(MessageEv)(self._on_message)

    def run(self) -> None:
        """Connect and stay connected; blocks (neonize's connect returns only when the client stops)."""
        proxy = ProxySettings(proxy_address=self.hello.proxy) if self.hello.proxy else None
        try:
            self.client.connect(proxy)
        except Exception as exc:
            self._finish(f"could not connect to WhatsApp: {exc}")
            return
        self._finish("the connection to WhatsApp ended")

    def _finish(self, reason: str) -> None:
        with self._lock:
            if self.dead:
                return
            self.dead = True
            self.connected = False
        self.emit(ConnectFailed(reason))

    # --- requests --------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            result: Any = self._dispatch(request)
        except RequestFailed as exc:
            return Response(ok=False, error=str(exc), error_kind=exc.kind)
        except Exception as exc:  # a vendor error we did not foresee: reported, never fatal
            log.exception("request %s failed", type(request).__name__)
            return Response(ok=False, error=f"{type(exc).__name__}: {exc}", error_kind=TRANSIENT)
        return Response(ok=True, result=asdict(result))

    def _dispatch(self, request: Request) -> Any:
        if isinstance(request, Contacts):
            return self._contacts()
        if isinstance(request, CheckNumbers):
            return self._check_numbers(request.numbers)
        if isinstance(request, SendStatus):
            return self._send_status(request)
        if isinstance(request, Revoke):
            self._require_connected()
            me = self.client.get_me()
            self.client.revoke_message(STATUS_BROADCAST, JIDToNonAD(me.JID), request.wa_message_id)
            return Done()
        if isinstance(request, PairPhone):
            return self._pair_phone(request.phone)
        if isinstance(request, Logout):
            self._require_connected()
            self.client.logout()
            with self._lock:
                self.dead = True
                self.connected = False
            return Done()
        if isinstance(request, Shutdown):
            return Done()
        raise RequestFailed(f"unknown request {type(request).__name__}", PERMANENT)

    def _require_connected(self) -> None:
        if self.dead or not self.connected:
            raise RequestFailed("not connected to WhatsApp")

    def _contacts(self) -> ContactsResult:
        self._require_connected()
        found: dict[str, ContactRecord] = {}
        for contact in self.client.contact.get_all_contacts():
            chat_id = self._chat_id(contact.JID)
            if not chat_id or chat_id in found:
                continue
            info = contact.Info
            found[chat_id] = ContactRecord(chat_id, info.FullName, info.FirstName, info.PushName)
        return ContactsResult(list(found.values()))

    def _check_numbers(self, numbers: list[str]) -> CheckNumbersResult:
        self._require_connected()
        try:
            answers = self.client.is_on_whatsapp(*(f"+{n}" for n in numbers))
        except Exception as exc:
            if NOTHING_RETURNED in str(exc):
                return CheckNumbersResult([])
            raise RequestFailed(f"WhatsApp did not answer the number check: {exc}") from exc
        return CheckNumbersResult([a.Query.lstrip("+") for a in answers if a.IsIn])

    def _send_status(self, status: SendStatus) -> SendResult:
        self._require_connected()
        try:
            message = messages.build_status(self.client, status)
        except messages.NotPublishedError as exc:
            raise RequestFailed(str(exc)) from exc
        try:
            response = self.client.send_message(STATUS_BROADCAST, message)
        except Exception as exc:
            # whatsmeow may fail after the message left (e.g. no server ack within its 75 s)
            raise RequestFailed(f"WhatsApp reported an error while sending: {exc}", UNCERTAIN) from exc
        log.info("status %s published as %s", status.message_id, response.ID)
        return SendResult(response.ID, _seconds(response.Timestamp))

    def _pair_phone(self, phone: str) -> PairPhoneResult:
        if self.dead:
            raise RequestFailed("the pairing connection is closed; ask for a new code")
        if self.connected:
            raise RequestFailed("the account is already linked", PERMANENT)
        if not self.qr_seen:
            raise RequestFailed("the pairing connection is not up yet")
        try:
            return PairPhoneResult(self.client.PairPhone(phone, True))
        except Exception as exc:
            raise RequestFailed(f"WhatsApp refused the pairing code request: {exc}", PERMANENT) from exc

    # --- JIDs ------------------------------------------------------------------------------------------------

    def _chat_id(self, jid: JID, alt: JID | None = None) -> str:
        """``digits@c.us`` for a PN or LID JID (LIDs mapped through whatsmeow's store), else ''."""
        for candidate in (jid, alt):
            if candidate is not None and candidate.Server == PN_SERVER and candidate.User:
                return f"{candidate.User}@c.us"
        if jid.Server == LID_SERVER and self.connected and not self.dead:
            try:
                pn = self.client.get_pn_from_lid(JIDToNonAD(jid))
            except Exception:
                return ""
            if pn.Server == PN_SERVER and pn.User:
                return f"{pn.User}@c.us"
        return ""

    # --- events (on neonize's callback thread: quick, never raising) -----------------------------------------

    def _on_qr(self, _client: Any, data: bytes) -> None:
        self.qr_seen = True
        self.emit(QrCode(data.decode() if isinstance(data, bytes) else str(data)))

    def _on_pair_status(self, _client: Any, ev: Any) -> None:
        if ev.Status == PairStatus.SUCCESS:
            self.emit(Paired(f"{ev.ID.User}@c.us"))
        else:
            self._finish(f"pairing failed: {ev.Error or 'unknown error'}")

    def _on_connected(self, _client: Any, _ev: Any) -> None:
        with self._lock:
            if self.dead:
                return
            self.connected = True
        me = self.client.get_me()
        self.emit(Connected(f"{me.JID.User}@c.us" if me.JID.User else "", me.PushName))

    def _on_disconnected(self, _client: Any, _ev: Any) -> None:
        self.connected = False
        if not self.dead:
            self.emit(Disconnected("the connection to WhatsApp dropped; reconnecting"))

    def _on_logged_out(self, _client: Any, ev: Any) -> None:
        with self._lock:
            self.dead = True
            self.connected = False
        reason = ConnectFailureReason.Name(ev.Reason) if ev.Reason else "LOGGED_OUT"
        self.emit(LoggedOut(reason, banned=ev.Reason == ConnectFailureReason.TEMP_BANNED))

    def _on_temporary_ban(self, _client: Any, ev: Any) -> None:
        code = TemporaryBanEv.DESCRIPTOR.fields_by_name["Code"].enum_type.values_by_number.get(ev.Code)
        name = code.name if code is not None else str(ev.Code)
        # neonize hands whatsmeow's duration over as a number of seconds
        expires = time.time() + ev.Expire if 0 < ev.Expire < 10**8 else 0.0
        self.emit(Banned(f"temporarily banned by WhatsApp ({name})", expires))

    def _on_connect_failure(self, _client: Any, ev: Any) -> None:
        if ev.Reason == ConnectFailureReason.TEMP_BANNED:
            self.emit(Banned(f"temporarily banned by WhatsApp ({ev.Message or 'no reason given'})", 0.0))
            return
        reason = ConnectFailureReason.Name(ev.Reason) if ev.Reason else "GENERIC"
        self._finish(f"WhatsApp refused the connection ({reason}: {ev.Message})")

    def _on_stream_replaced(self, _client: Any, _ev: Any) -> None:
        self._finish("another client connected with this session (stream replaced)")

    def _on_client_outdated(self, _client: Any, _ev: Any) -> None:
        self._finish("WhatsApp says this client is outdated: upgrade neonize")

    def _on_receipt(self, _client: Any, ev: Any) -> None:
        source = ev.MessageSource
        status = RECEIPT_STATUS.get(ev.Type)
        if status is None or not is_status_broadcast(source.Chat) or source.IsFromMe:
            return
        participant = self._chat_id(JIDToNonAD(source.Sender), JIDToNonAD(source.SenderAlt))
        if not participant:
            log.warning(
                "receipt from %s@%s without a phone number: skipped", source.Sender.User, source.Sender.Server
            )
            return
        self.emit(Receipt(list(ev.MessageIDs), participant, status, _seconds(ev.Timestamp)))

    def _on_message(self, _client: Any, ev: Any) -> None:
        info = ev.Info
        source = info.MessageSource
        if not is_status_broadcast(source.Chat) or source.IsFromMe:
            return
        payload = messages.incoming_payload(ev.Message)
        if payload is None:
            return
        sender = self._chat_id(JIDToNonAD(source.Sender), JIDToNonAD(source.SenderAlt))
        if not sender:
            return
        payload["sender_name"] = info.Pushname
        payload["sender_contact_name"] = self._saved_name(sender)
        self.emit(Incoming(info.ID, sender, _seconds(info.Timestamp), payload))

    def _saved_name(self, chat_id: str) -> str:
        if not self.connected or self.dead:
            return ""
        try:
            return str(self.client.contact.get_contact(build_jid(chat_id.split("@")[0])).FullName)
        except Exception:
            return ""
