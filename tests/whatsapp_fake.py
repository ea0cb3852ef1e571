"""A fake of neonize's ``NewClient`` that records every call, for the whatsapp engine's tests.

It stands where ``neonize.client.NewClient`` stands (the engine child builds it through the test-only
setting ``test_whatsapp_client=tests.whatsapp_fake:FakeClient``), so the child, the session adapter and the
server run for real. It cannot drift from neonize unnoticed:

- every method has neonize 0.5.2's exact signature (``tests/unit/test_whatsapp_fake.py`` compares them with
  ``inspect.signature`` against the installed package);
- everything it returns or emits is built from neonize's real protobuf classes, so a renamed field fails.

It is scripted by ``fake.json`` in the session dir (see :data:`DEFAULT_SCRIPT`) and writes each call to
``fake-calls.jsonl`` there (protobuf messages as base64), for tests in another process to read.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import sqlite3
import subprocess
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any


def quiet_import_neonize() -> None:
    """Import neonize with its one leak silenced: its import runs ``os.popen("uname -a")`` and never
    closes the pipe, which is finalised whenever the subprocess module next reaps children; under pytest's
    ``filterwarnings = error`` that ResourceWarning would fail whichever test runs then. So the child is
    reaped right away, inside the filter. (This module stays free of pytest: engine children import it.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        import neonize  # noqa: F401

        deadline = time.monotonic() + 5
        while subprocess._active and time.monotonic() < deadline:  # type: ignore[attr-defined]
            subprocess._cleanup()  # type: ignore[attr-defined]
            time.sleep(0.005)


quiet_import_neonize()

from neonize.events import (  # noqa: E402
    ConnectedEv,
    DisconnectedEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    ReceiptEv,
    TemporaryBanEv,
)
from neonize.exc import IsOnWhatsAppError, NeonizeError, SendMessageError, UploadError  # noqa: E402
from neonize.proto.Neonize_pb2 import (  # noqa: E402
    JID,
    Contact,
    ContactInfo,
    Device,
    IsOnWhatsAppResponse,
    MessageInfo,
    MessageSource,
    PairStatus,
    SendResponse,
    UploadResponse,
)
from neonize.proto.Neonize_pb2 import Receipt as ReceiptProto  # noqa: E402
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message  # noqa: E402
from neonize.utils.enum import ClientName, ClientType, MediaType  # noqa: E402

SCRIPT_FILE = "fake.json"
CALLS_FILE = "fake-calls.jsonl"
SCAN_FILE = "fake-scan"
PN = "s.whatsapp.net"


def _jid(user: str, server: str = "s.whatsapp.net", device: int = 0) -> JID:
    """A JID as Go hands them over: every field set (JID is proto2 with required fields)."""
    return JID(User=user, RawAgent=0, Device=device, Integrator=0, Server=server, IsEmpty=not user)


STATUS = _jid("status", "broadcast")

DEFAULT_SCRIPT: dict[str, Any] = {
    #: the account's own number and profile name
    "me": "79990000001",
    "push_name": "Me",
    "qr_codes": ["2@fake-ref-1,noise,identity,adv", "2@fake-ref-2,noise,identity,adv"],
    #: link right after the first QR code (else when ``fake-scan`` appears in the session dir)
    "autopair": False,
    #: [number, FullName, FirstName, PushName]
    "contacts": [],
    #: LID user → phone number
    "lid_map": {},
    #: numbers on WhatsApp
    "registered": [],
    #: is_on_whatsapp raises IsOnWhatsAppError with this text (a lost connection, say)
    "numbers_error": "",
    #: sent after each status: {"from": number or "lid:<user>", "type": "DELIVERED"|"READ"|"PLAYED"|…,
    #: "before_response": bool}
    "receipts": [],
    #: "exit134" (what a Go panic looks like) or "abort" (SIGABRT) inside send_message
    "crash_on_send": "",
    "send_error": "",
    "upload_error": "",
    "connect_error": "",
    #: emitted once connected: {"from": number, "id": str, "push_name": str, "message": base64 Message}
    "incoming": [],
    #: "temporary" or "logged_out": emitted once connected
    "ban": "",
}

_ids = itertools.count(1)


def _sender(spec: str) -> tuple[JID, JID]:
    """A receipt's or message's sender and SenderAlt from ``number`` or ``lid:<user>``."""
    if spec.startswith("lid:"):
        return _jid(spec[4:], "lid", 2), _jid("", "")
    return _jid(spec, PN, 1), _jid("", "")


def _serialisable(value: Any) -> Any:
    if hasattr(value, "SerializeToString"):  # a protobuf message
        return {"proto": type(value).__name__, "b64": base64.b64encode(value.SerializeToString()).decode()}
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    if isinstance(value, MediaType | ClientName | ClientType):
        return value.name
    if isinstance(value, list | tuple):
        return [_serialisable(v) for v in value]
    return value


class _Event:
    """Mirrors ``neonize.events.Event``: ``event(EvType)(handler)`` and ``event.qr(handler)``."""

    def __init__(self, client: FakeClient) -> None:
        self.client = client
        self.list_func: dict[type, Callable[[Any, Any], None]] = {}
        self._qr: Callable[[Any, bytes], None] | None = None

    def __call__(self, event: type) -> Callable[[Callable[[Any, Any], None]], None]:
        def callback(func: Callable[[Any, Any], None]) -> None:
            self.list_func[event] = func

        return callback

    def qr(self, f: Callable[[Any, bytes], None]) -> None:
        self._qr = f

    def fire(self, event: Any) -> None:
        handler = self.list_func.get(type(event))
        if handler is not None:
            handler(self.client, event)


class _ContactStore:
    def __init__(self, client: FakeClient) -> None:
        self.client = client

    def get_contact(self, user: JID) -> ContactInfo:
        self.client.record("contact.get_contact", user=user)
        for number, full, first, push in self.client.script["contacts"]:
            if number == user.User:
                return ContactInfo(Found=True, FullName=full, FirstName=first, PushName=push)
        return ContactInfo(Found=False)

    def get_all_contacts(self) -> list[Contact]:
        self.client.record("contact.get_all_contacts")
        return [
            Contact(
                JID=_jid(number[4:], "lid") if number.startswith("lid:") else _jid(number),
                Info=ContactInfo(Found=True, FullName=full, FirstName=first, PushName=push),
            )
            for number, full, first, push in self.client.script["contacts"]
        ]


class FakeClient:
    def __init__(
        self,
        name: str,
        jid: JID | None = None,
        props: Any = None,
        uuid: str | None = None,
        new_device: bool = False,
    ):
        self.name = name
        self.session_dir = Path(name).parent
        self.uuid = (uuid or name).encode()
        self.event = _Event(self)
        self.qr = self.event.qr
        self.contact = _ContactStore(self)
        self.calls: list[dict[str, Any]] = []
        self._stopped = threading.Event()
        self._connected = False
        path = self.session_dir / SCRIPT_FILE
        loaded = json.loads(path.read_text()) if path.exists() else {}
        self.script: dict[str, Any] = DEFAULT_SCRIPT | loaded

    # --- recording -------------------------------------------------------------------------------------------

    def record(self, method: str, **args: Any) -> None:
        entry = {"method": method, "args": {k: _serialisable(v) for k, v in args.items()}}
        self.calls.append(entry)
        with (self.session_dir / CALLS_FILE).open("a") as out:
            out.write(json.dumps(entry) + "\n")

    # --- the device store (whatsmeow's table, so the server's has_device sees it) ----------------------------

    def _store(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.name)
        conn.execute("CREATE TABLE IF NOT EXISTS whatsmeow_device (jid TEXT PRIMARY KEY)")
        return conn

    def _linked(self) -> bool:
        with self._store() as conn:
            return bool(conn.execute("SELECT count(*) FROM whatsmeow_device").fetchone()[0])

    def _link(self) -> None:
        with self._store() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO whatsmeow_device VALUES (?)", (f"{self.script['me']}:1@{PN}",)
            )
        self.event.fire(PairStatusEv(ID=_jid(self.script["me"]), Status=PairStatus.SUCCESS, Platform="fake"))

    def _unlink(self) -> None:
        with self._store() as conn:
            conn.execute("DELETE FROM whatsmeow_device")

    # --- connection ------------------------------------------------------------------------------------------

    def connect(self, proxy_settings: Any = None) -> None:
        self.record("connect", proxy=getattr(proxy_settings, "proxy_address", None))
        if self.script["connect_error"]:
            raise NeonizeError(self.script["connect_error"])
        if not self._linked():
            for code in self.script["qr_codes"]:
                if self.event._qr is not None:
                    self.event._qr(self, code.encode())
                if self.script["autopair"]:
                    break
            while not self.script["autopair"] and not (self.session_dir / SCAN_FILE).exists():
                if self._stopped.wait(0.02):
                    return
            self._link()
        self._connected = True
        self.event.fire(ConnectedEv(status=True))
        self._after_connect()
        self._stopped.wait()

    def _after_connect(self) -> None:
        if self.script["ban"] == "temporary":
            self.event.fire(TemporaryBanEv(Code=TemporaryBanEv.SEND_TO_TOO_MANY_PEOPLE, Expire=3600))
        elif self.script["ban"] == "logged_out":
            self._unlink()
            self.event.fire(LoggedOutEv(OnConnect=True, Reason=2))
        for item in self.script["incoming"]:
            sender, alt = _sender(item["from"])
            source = MessageSource(Chat=STATUS, Sender=sender, SenderAlt=alt, IsFromMe=False)
            info = MessageInfo(
                MessageSource=source,
                ID=item["id"],
                Pushname=item.get("push_name", ""),
                Timestamp=int(time.time()),
            )
            message = Message.FromString(base64.b64decode(item["message"]))
            self.event.fire(MessageEv(Info=info, Message=message))

    def disconnect(self) -> None:
        self.record("disconnect")
        self._connected = False
        self.event.fire(DisconnectedEv())

    def stop(self) -> None:
        self.record("stop")
        self._stopped.set()

    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def is_logged_in(self) -> bool:
        return self._connected

    def get_me(self) -> Device:
        self.record("get_me")
        return Device(JID=_jid(self.script["me"], PN, 1), PushName=self.script["push_name"])

    def logout(self) -> None:
        self.record("logout")
        self._unlink()
        self._connected = False

    def PairPhone(
        self,
        phone: str,
        show_push_notification: bool,
        client_name: ClientName = ClientName.LINUX,
        client_type: ClientType | None = None,
    ) -> str:
        self.record("PairPhone", phone=phone, show_push_notification=show_push_notification)
        return "FAKE1234"

    # --- queries ---------------------------------------------------------------------------------------------

    def is_on_whatsapp(self, *numbers: str) -> list[IsOnWhatsAppResponse]:
        self.record("is_on_whatsapp", numbers=list(numbers))
        if self.script["numbers_error"]:
            raise IsOnWhatsAppError(self.script["numbers_error"])
        registered = set(self.script["registered"])
        return [
            IsOnWhatsAppResponse(Query=n, JID=_jid(n.lstrip("+")), IsIn=n.lstrip("+") in registered)
            for n in numbers
        ]

    def get_pn_from_lid(self, jid: JID) -> JID:
        self.record("get_pn_from_lid", jid=jid)
        number = self.script["lid_map"].get(jid.User)
        return _jid(number) if number else _jid("", "")

    # --- sending ---------------------------------------------------------------------------------------------

    def upload(self, binary: bytes, media_type: MediaType | None = None) -> UploadResponse:
        self.record("upload", binary=binary, media_type=media_type)
        if self.script["upload_error"]:
            raise UploadError(self.script["upload_error"])
        return UploadResponse(
            url="https://mmg.whatsapp.net/fake",
            DirectPath="/v/t62/fake",
            MediaKey=b"k" * 32,
            FileEncSHA256=b"e" * 32,
            FileSHA256=hashlib.sha256(binary).digest(),
            FileLength=len(binary),
        )

    def send_message(
        self,
        to: JID | str,
        message: Message | str,
        link_preview: bool = False,
        ghost_mentions: str | None = None,
        mentions_are_lids: bool = False,
        add_msg_secret: bool = False,
    ) -> SendResponse:
        self.record("send_message", to=to, message=message)
        crash = self.script["crash_on_send"]
        if crash == "exit134":
            os._exit(134)
        if crash == "abort":
            os.abort()
        if self.script["send_error"]:
            raise SendMessageError(self.script["send_error"])
        wa_id = f"3EB0{os.getpid():06X}{next(_ids):06X}"
        before = [r for r in self.script["receipts"] if r.get("before_response")]
        after = [r for r in self.script["receipts"] if not r.get("before_response")]
        self._receipts(wa_id, before)
        if after:
            threading.Timer(0.05, self._receipts, (wa_id, after)).start()
        return SendResponse(ID=wa_id, Timestamp=int(time.time()), Chat=STATUS)

    def _receipts(self, wa_id: str, receipts: list[dict[str, Any]]) -> None:
        for receipt in receipts:
            sender, alt = _sender(receipt["from"])
            source = MessageSource(Chat=STATUS, Sender=sender, SenderAlt=alt, IsFromMe=False)
            kind = ReceiptProto.ReceiptType.Value(receipt["type"])
            self.event.fire(
                ReceiptEv(MessageSource=source, MessageIDs=[wa_id], Timestamp=int(time.time()), Type=kind)
            )

    def revoke_message(self, chat: JID, sender: JID, message_id: str) -> SendResponse:
        self.record("revoke_message", chat=chat, sender=sender, message_id=message_id)
        return SendResponse(ID=f"3EB0REVOKE{next(_ids):06X}", Timestamp=int(time.time()))


def write_script(session_dir: Path, **script: Any) -> None:
    session_dir.mkdir(parents=True, exist_ok=True)
    (session_dir / SCRIPT_FILE).write_text(json.dumps(script))


def read_calls(session_dir: Path) -> list[dict[str, Any]]:
    path = session_dir / CALLS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def decode_message(recorded: dict[str, Any]) -> Message:
    return Message.FromString(base64.b64decode(recorded["b64"]))
