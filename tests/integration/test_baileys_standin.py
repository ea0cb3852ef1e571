"""The Baileys stand-in against the real Baileys 7: pairing by QR and by code, a login with saved creds,
and what a client must see when things go wrong (an unlinked device, a dead port) — all in a network namespace with
only loopback, so nothing reaches WhatsApp (tests/baileys_standin/README.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.baileys_standin import driver
from tests.baileys_standin.fixtures import standin_for

SEED = 20261202
QR_PHONE = "15550100001"
CODE_PHONE = "15550100002"
#: Baileys' pairing codes: 8 characters of its Crockford alphabet, 1-9 and A-Z without I, O, U (bytesToCrockford)
PAIRING_CODE = re.compile(r"[1-9A-HJ-NP-TV-Z]{8}")


standin = standin_for(SEED)


def creds(auth_dir: Path) -> dict[str, object]:
    found: dict[str, object] = json.loads((auth_dir / "creds.json").read_text())
    return found


def test_qr_pairing_then_a_login_with_the_saved_creds(standin: driver.StandIn, tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    with standin.probe(auth, "--exit-on-open") as first:
        linked = standin.command("scan", qr=first.qr(), phone=QR_PHONE, device=3)
        assert linked["jid"] == f"{QR_PHONE}:3@s.whatsapp.net"
        # a pairing ends with "restart required"; the probe reconnects and logs in as the new device
        assert first.connection(connection="close")["statusCode"] == 515
        opened = first.wait_for_event("open")
        assert opened["me"] == {"id": linked["jid"], "lid": linked["lid"]}
        assert first.wait_exit() == 0
    assert creds(auth)["me"] == {"id": linked["jid"], "lid": linked["lid"]}
    standin.wait_for_event("logged-in", jid=linked["jid"])
    standin.wait_for_event("prekeys-uploaded", jid=linked["jid"])

    with standin.probe(auth, "--exit-on-open") as again:
        again.wait_for_event("open")
        assert again.wait_exit() == 0
    assert not [e for e in again.events if "qr" in e], "a linked device showed a QR"
    standin.wait_for_event("logged-in", jid=linked["jid"])
    # the server still held its prekeys, so none were uploaded again
    uploads = [e for e in standin.drain() if e["event"] == "prekeys-uploaded" and e["jid"] == linked["jid"]]
    assert len(uploads) == 1
    assert {d["jid"] for d in standin.command("devices")} >= {linked["jid"]}

    # unlinked on the phone: the saved creds no longer log in
    assert standin.command("unlink", jid=linked["jid"]) == {"ended": 0}
    with standin.probe(auth, "--exit-on-open") as refused:
        assert refused.connection(connection="close")["statusCode"] == 401
        assert refused.wait_exit() == 0
    standin.wait_for_event("login-refused", phone=QR_PHONE, device=3)


def test_pairing_by_code_then_unlinked_while_connected(standin: driver.StandIn, tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    with standin.probe(auth, "--pairing-code", CODE_PHONE) as probe:
        code = probe.wait_for_event("pairing-code")["code"]
        assert PAIRING_CODE.fullmatch(code), code
        standin.wait_for_event("pairing-code-requested", phone=CODE_PHONE)
        # the phone's user types the code: the stand-in, as the phone, links the companion
        assert standin.command("enter-code", code=code, phone=CODE_PHONE) == {"phone": CODE_PHONE}
        assert probe.connection(connection="close")["statusCode"] == 515
        opened = probe.wait_for_event("open")
        jid = opened["me"]["id"]
        assert jid.startswith(f"{CODE_PHONE}:")
        # removed on the phone while connected: Baileys hears "logged out"
        assert standin.command("unlink", jid=jid) == {"ended": 1}
        assert probe.connection(connection="close")["statusCode"] == 401
        assert probe.wait_exit() == 0
    # the probe exits only once its creds are written
    me = creds(auth)["me"]
    assert isinstance(me, dict) and me["id"] == jid


def test_the_chain_verifies_under_the_test_root_only(standin: driver.StandIn) -> None:
    # checked by the stand-in with libsignal's own answer (certs.mjs: verifyChain)
    assert standin.verifies_under_whatsapp_root is False


def test_baileys_rc14_accepts_any_noise_chain(standin: driver.StandIn, tmp_path: Path) -> None:
    """Baileys 7.0.0-rc14's ``Curve.verify`` returns true for any 64-byte signature (it only catches
    exceptions; libsignal's ``verifySignature`` returns false), so a client that keeps WhatsApp's pinned
    root still accepts the stand-in's chain. Pinned here so an upgrade that fixes it is noticed: then this
    test must expect a ``close`` naming the certificate instead, and the root swap becomes necessary."""
    with standin.probe(tmp_path / "auth", "--keep-pinned-root") as probe:
        probe.qr()


def test_a_dead_port_closes_with_connection_refused(baileys_dir: Path, node: Path, tmp_path: Path) -> None:
    # a namespace of its own, where nothing listens
    url = "ws://127.0.0.1:9/ws/chat"
    with driver.Probe.alone(node, baileys_dir, url, tmp_path / "auth", tmp_path) as probe:
        closed = probe.connection(connection="close")
        assert closed["statusCode"] == 408 and "ECONNREFUSED" in closed["error"], closed
        assert probe.wait_exit() == 0
