"""The settings of the engines that run their library in child processes (whatsapp, baileys): the part of
:class:`statusgate.settings.Settings` that only those engines read, kept apart so neither file grows past
what one can read through. Same env prefix (``STATUSGATE_``), same flags of ``statusgate serve``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EngineProcessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STATUSGATE_", frozen=True, extra="ignore")

    # --- whatsapp engine (neonize child processes) --------------------------------------------------------
    whatsapp_start_timeout_seconds: float = Field(
        15, gt=0, description="Longest wait for a WhatsApp engine process to start (it imports neonize)."
    )
    whatsapp_qr_timeout_seconds: float = Field(
        20,
        gt=0,
        description="`qr` and getAuthorizationCode wait this long for WhatsApp's first QR code, then answer "
        "an error.",
    )
    whatsapp_pairing_timeout_seconds: float = Field(
        160,
        gt=0,
        description="A pairing engine process (QR codes, pairing code) is stopped after this; WhatsApp's "
        "codes run out after about 160 s.",
    )
    whatsapp_request_timeout_seconds: float = Field(
        30,
        gt=0,
        description="Longest wait for an engine process to answer a contacts list, number check, revoke, "
        "pairing code or logout.",
    )
    whatsapp_send_timeout_seconds: float = Field(
        90,
        gt=0,
        description="Longest wait for one status upload and send (whatsmeow itself waits up to 75 s); past "
        "it the attempt goes on and the next try waits for its outcome. engine_timeout_seconds bounds "
        "each try as well.",
    )
    whatsapp_restart_base_seconds: float = Field(
        1,
        gt=0,
        description="First wait before restarting a linked account's engine process; doubles each time.",
    )
    whatsapp_restart_cap_seconds: float = Field(
        60, gt=0, description="Longest wait between two restarts of an engine process."
    )
    whatsapp_stop_timeout_seconds: float = Field(
        5, ge=0, description="How long an engine process may take to exit when stopped before it is killed."
    )
    whatsapp_event_buffer: int = Field(
        100_000,
        ge=100,
        description="Most WhatsApp events (receipts, incoming statuses, state changes) held in memory for "
        "the queue; beyond it new ones are dropped with a warning.",
    )
    whatsapp_contacts_refresh_seconds: float = Field(
        600,
        gt=0,
        description="How often the worker copies a linked account's address book to the database "
        "(getContacts answers from the copy; it is also taken each time the account connects).",
    )
    whatsapp_receipt_hold_seconds: float = Field(
        120,
        gt=0,
        description="A receipt for a WhatsApp message id not (yet) mapped to one of ours is kept this long "
        "(it can arrive before the send's answer), then dropped.",
    )

    # --- the requests an engine child makes of the server (the baileys child's keys) --------------------------
    child_request_concurrency: int = Field(
        4,
        ge=1,
        le=64,
        description="At most this many requests of one engine process (the baileys child's key reads and "
        "writes) are served at once.",
    )
    child_request_backlog: int = Field(
        64,
        ge=0,
        le=10_000,
        description="Requests of one engine process waiting beyond the concurrent ones; more are answered "
        "`transient` at once, so a runaway child cannot queue without bound.",
    )

    # --- baileys engine (Node child processes) -------------------------------------------------------------
    baileys_ws_url: str = Field(
        "wss://web.whatsapp.com/ws/chat",
        description="WhatsApp's chat server for the baileys engine; tests point it at a loopback stand-in.",
    )
    baileys_test_root_key: str = Field(
        "",
        description="Test only: base64 of the 32-byte Curve25519 key that replaces Baileys' pinned Noise root "
        "key. Honoured only when `baileys_ws_url`'s host is an IP literal in 127.0.0.0/8 or `[::1]`; the "
        "worker refuses to start otherwise.",
    )
    baileys_browser_name: str = Field(
        "statusgate",
        min_length=1,
        max_length=40,
        description="The name the phone shows for a baileys account in its linked devices.",
    )
    baileys_accounts_per_process: int = Field(
        1,
        ge=1,
        le=50,
        description="How many baileys accounts one engine process holds: 1 runs each in a Node process of "
        "its own (a crash or a runaway account touches no other); more share one Node runtime and its "
        "loaded Baileys between them, which is most of an account's memory, and a process that dies "
        "restarts all of its accounts.",
    )
    baileys_start_timeout_seconds: float = Field(
        20, gt=0, description="Longest wait for a baileys engine process to start (Node loads Baileys)."
    )
    baileys_qr_timeout_seconds: float = Field(
        20,
        gt=0,
        description="`qr` and getAuthorizationCode wait this long for WhatsApp's first QR code (baileys).",
    )
    baileys_pairing_timeout_seconds: float = Field(
        160, gt=0, description="A pairing baileys engine process is stopped after this."
    )
    baileys_request_timeout_seconds: float = Field(
        30,
        gt=0,
        description="Longest wait for a baileys engine process to answer a request (pairing code, logout), "
        "and Baileys' own wait for an answer from WhatsApp.",
    )
    baileys_restart_base_seconds: float = Field(
        1,
        gt=0,
        description="First wait before a linked baileys account reconnects (or its process restarts); "
        "doubles each time.",
    )
    baileys_restart_cap_seconds: float = Field(
        60, gt=0, description="Longest wait between two reconnects of a baileys account."
    )
    baileys_stop_timeout_seconds: float = Field(
        5,
        ge=0,
        description="How long a baileys engine process may take to exit when stopped before it is killed.",
    )
    baileys_event_buffer: int = Field(
        100_000,
        ge=100,
        description="Most baileys events (receipts, incoming statuses, state changes) held in memory for the "
        "queue; beyond it new ones are dropped with a warning.",
    )
    baileys_chunk_size: int = Field(
        256,
        ge=1,
        le=1024,
        description="A baileys status goes to its audience in chunks of this many recipients, one after "
        "another under one message id, each acknowledged by WhatsApp's server before the next.",
    )
    baileys_chunk_pause_seconds: float = Field(
        0.5, ge=0, description="The pause between two chunks of one baileys status."
    )
    baileys_ack_timeout_seconds: float = Field(
        30,
        gt=0,
        description="Longest wait for WhatsApp's server to acknowledge one chunk of a baileys status; "
        "after it the chunk's fate is unknown and it is never sent again.",
    )
    baileys_wa_version: str = Field(
        "",
        pattern=r"^(\d+\.\d+\.\d+)?$",
        description="The WhatsApp Web version the baileys engine announces (e.g. `2.3000.1027934701`), when "
        "WhatsApp refuses Baileys' built-in one (405); empty: Baileys' own.",
    )
    baileys_contacts_sync_seconds: float = Field(
        60,
        gt=0,
        description="After a new link, a baileys status for the default audience waits up to this long for "
        "the phone's address book to sync, instead of going to the part of it received so far.",
    )
    baileys_addressing: Literal["lid", "pn"] = Field(
        "lid",
        description="How a baileys status addresses its recipients: `lid` (their LIDs where the mapping is "
        "known, phone numbers otherwise, as WhatsApp Web does) or `pn` (phone numbers only).",
    )
