"""The fake neonize client is checked against the installed neonize, so it cannot drift unnoticed."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from tests.whatsapp_support import neonize_or_skip

neonize_or_skip()

from neonize import client as neonize_client  # noqa: E402
from neonize import events as neonize_events  # noqa: E402
from neonize._binder import ProxySettings  # noqa: E402
from neonize.proto import Neonize_pb2  # noqa: E402

from statusgate.engines.whatsapp.protocol import PROTOCOL_VERSION, Contacts, Hello  # noqa: E402
from statusgate.engines.whatsapp.session import Session  # noqa: E402
from tests import whatsapp_fake  # noqa: E402

#: (fake, real) pairs of every neonize callable the engine (or the fake standing in for neonize) uses
METHODS = [
    (whatsapp_fake.FakeClient.__init__, neonize_client.NewClient.__init__),
    *[
        (getattr(whatsapp_fake.FakeClient, name), getattr(neonize_client.NewClient, name))
        for name in (
            "connect",
            "disconnect",
            "stop",
            "get_me",
            "logout",
            "PairPhone",
            "is_on_whatsapp",
            "get_pn_from_lid",
            "upload",
            "send_message",
            "revoke_message",
        )
    ],
    (whatsapp_fake._ContactStore.get_contact, neonize_client.ContactStore.get_contact),
    (whatsapp_fake._ContactStore.get_all_contacts, neonize_client.ContactStore.get_all_contacts),
    (whatsapp_fake._Event.__call__, neonize_events.Event.__call__),
    (whatsapp_fake._Event.qr, neonize_events.Event.qr),
]


def _shape(func: Any) -> list[tuple[str, Any, Any]]:
    """Parameter names, kinds and defaults (annotations differ in spelling, not in meaning)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


@pytest.mark.parametrize(("fake", "real"), METHODS, ids=lambda f: getattr(f, "__qualname__", "?"))
def test_fake_signatures_match_neonize(fake: Any, real: Any) -> None:
    assert _shape(fake) == _shape(real)


@pytest.mark.parametrize("name", ["is_connected", "is_logged_in"])
def test_state_properties_are_properties(name: str) -> None:
    assert isinstance(getattr(neonize_client.NewClient, name), property)
    assert isinstance(getattr(whatsapp_fake.FakeClient, name), property)


#: every protobuf field the session reads or the fake sets, per message class
FIELDS: dict[str, set[str]] = {
    "JID": {"User", "Server", "Device"},
    "MessageSource": {"Chat", "Sender", "SenderAlt", "IsFromMe"},
    "MessageInfo": {"MessageSource", "ID", "Pushname", "Timestamp"},
    "Message": {"Info", "Message"},
    "Receipt": {"MessageSource", "MessageIDs", "Timestamp", "Type"},
    "LoggedOut": {"OnConnect", "Reason"},
    "TemporaryBan": {"Code", "Expire"},
    "ConnectFailure": {"Reason", "Message"},
    "PairStatus": {"ID", "Status", "Error", "Platform"},
    "Connected": {"status"},
    "Device": {"JID", "PushName"},
    "Contact": {"JID", "Info"},
    "ContactInfo": {"Found", "FullName", "FirstName", "PushName"},
    "IsOnWhatsAppResponse": {"Query", "JID", "IsIn"},
    "SendResponse": {"ID", "Timestamp", "Chat"},
    "UploadResponse": {"url", "DirectPath", "MediaKey", "FileEncSHA256", "FileSHA256", "FileLength"},
}


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_event_and_result_fields_exist(name: str) -> None:
    descriptor = getattr(Neonize_pb2, name).DESCRIPTOR
    assert FIELDS[name] <= set(descriptor.fields_by_name)


def test_enum_values_used_exist() -> None:
    receipt_types = Neonize_pb2.Receipt.DESCRIPTOR.fields_by_name["Type"].enum_type.values_by_name
    assert {"DELIVERED", "READ", "PLAYED", "READ_SELF"} <= set(receipt_types)
    assert Neonize_pb2.ConnectFailureReason.Value("TEMP_BANNED") == 3
    assert Neonize_pb2.PairStatus.SUCCESS == 2
    assert (
        "SEND_TO_TOO_MANY_PEOPLE"
        in Neonize_pb2.TemporaryBan.DESCRIPTOR.enum_types_by_name["TempBanReason"].values_by_name
    )
    assert [f.name for f in ProxySettings.__dataclass_fields__.values()][:1] == ["proxy_address"]


def test_session_registers_on_a_real_client(tmp_path: Path) -> None:
    """A real (offline, never connected) NewClient takes every handler the session registers."""
    client = neonize_client.NewClient(str(tmp_path / "whatsmeow.db"), uuid="drift-check")
    hello = Hello(PROTOCOL_VERSION, 1, str(tmp_path), pair=True)
    session = Session(client, hello, lambda _e: None)
    registered = set(client.event.list_func)
    wanted = {
        neonize_events.EVENT_TO_INT[ev]
        for ev in (
            neonize_events.PairStatusEv,
            neonize_events.ConnectedEv,
            neonize_events.DisconnectedEv,
            neonize_events.LoggedOutEv,
            neonize_events.TemporaryBanEv,
            neonize_events.ConnectFailureEv,
            neonize_events.StreamReplacedEv,
            neonize_events.ClientOutdatedEv,
            neonize_events.ReceiptEv,
            neonize_events.MessageEv,
        )
    }
    assert registered == wanted
    assert client.event._qr == session._on_qr
    # before connect() nothing is reachable in Go, and the session knows it: no call is made
    assert not client.is_connected and not client.is_logged_in
    assert session.handle(Contacts()).error_kind == "transient"
