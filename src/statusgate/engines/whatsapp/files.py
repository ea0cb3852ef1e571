"""What the whatsapp engine keeps in an instance's session dir (``<data_dir>/sessions/<idInstance>/``).

- ``whatsmeow.db``: whatsmeow's own SQLite store (keys, contacts), written by the child; the server only
  asks it, read-only, whether a device is stored.
- ``engine.sqlite``: send intents. WhatsApp chooses a status' message id, so before asking the child to
  send, the server records "about to send <our id>"; the answer adds WhatsApp's id. An intent without
  WhatsApp's id after the child died (or the server restarted) is a send whose outcome nobody knows.
- ``state.json``: the last state the supervising server saw, for other processes (the CLI) to report.

The session dir, not the gateway's schema, because all of this belongs to one linked device on this
machine: it goes with whatsmeow's store (delete one, the other means nothing) and with the instance.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INTENTS_FILE = "engine.sqlite"
STATE_FILE = "state.json"
STORE_FILES = ("whatsmeow.db", "whatsmeow.db-wal", "whatsmeow.db-shm", "whatsmeow.db-journal")

SENDING = "sending"
SENT = "sent"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS send_intents (
    message_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    wa_message_id TEXT UNIQUE,
    started_at REAL NOT NULL,
    finished_at REAL
)
"""


@dataclass(frozen=True)
class Intent:
    message_id: str
    state: str
    wa_message_id: str | None
    started_at: float


class Intents:
    """Blocking calls (run them in a thread); one connection, serialised by a lock."""

    def __init__(self, session_dir: Path) -> None:
        self.path = session_dir / INTENTS_FILE
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            # FULL: an intent must be on disk before the child is asked to send
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(_SCHEMA)
            self._conn = conn
        return self._conn

    def get(self, message_id: str) -> Intent | None:
        with self._lock:
            row = (
                self._db()
                .execute(
                    "SELECT message_id, state, wa_message_id, started_at FROM send_intents WHERE message_id = ?",
                    (message_id,),
                )
                .fetchone()
            )
        return None if row is None else Intent(*row)

    def begin(self, message_id: str) -> None:
        with self._lock:
            self._db().execute(
                "INSERT OR REPLACE INTO send_intents (message_id, state, started_at) VALUES (?, ?, ?)",
                (message_id, SENDING, time.time()),
            )

    def sent(self, message_id: str, wa_message_id: str) -> None:
        with self._lock:
            self._db().execute(
                "UPDATE send_intents SET state = ?, wa_message_id = ?, finished_at = ? WHERE message_id = ?",
                (SENT, wa_message_id, time.time(), message_id),
            )

    def clear(self, message_id: str) -> None:
        """Nothing was published: the next attempt may send afresh."""
        with self._lock:
            self._db().execute(
                "DELETE FROM send_intents WHERE message_id = ? AND state = ?", (message_id, SENDING)
            )

    def ours(self, wa_message_ids: list[str]) -> dict[str, str]:
        """WhatsApp's id → ours, for those known."""
        if not wa_message_ids:
            return {}
        marks = ",".join("?" * len(wa_message_ids))
        with self._lock:
            rows = (
                self._db()
                .execute(
                    f"SELECT wa_message_id, message_id FROM send_intents WHERE wa_message_id IN ({marks})",  # noqa: S608 (placeholders only)
                    wa_message_ids,
                )
                .fetchall()
            )
        return {str(wa): str(ours) for wa, ours in rows}

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def has_device(session_dir: Path) -> bool:
    """Whether whatsmeow stored a linked device (read-only; no neonize needed)."""
    store = session_dir / STORE_FILES[0]
    if not store.exists():
        return False
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=2)
        try:
            count = conn.execute("SELECT count(*) FROM whatsmeow_device").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return False  # no table yet: the child never got as far as creating the schema
    return bool(count)


def remove_store(session_dir: Path) -> None:
    """Drop whatsmeow's store (keys, contacts of the unlinked account); the intents stay."""
    for name in STORE_FILES:
        (session_dir / name).unlink(missing_ok=True)


def write_state(session_dir: Path, state: dict[str, Any]) -> None:
    if not session_dir.is_dir():
        return  # the instance was deleted meanwhile
    tmp = session_dir / f".{STATE_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(state))
    tmp.replace(session_dir / STATE_FILE)


def read_state(session_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((session_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
