"""The baileys engine's children: ``node child/child.mjs`` per account, or one such process for up to
``baileys_accounts_per_process`` accounts (``sidecar/pool.py``); each account's keys answered from the
database under the fence of the worker that holds the account (``sidecar.account.Launcher``)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import shlex
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from statusgate.domain.ownership import Fence
from statusgate.engines.baileys import install
from statusgate.engines.baileys.keys import KeyRequests, is_key_request
from statusgate.engines.baileys.protocol import CODEC, PROTOCOL_VERSION, Fatal, Hello, Shutdown, is_event
from statusgate.engines.sidecar.account import Limits
from statusgate.engines.sidecar.frames import Event
from statusgate.engines.sidecar.pool import ProcessPool
from statusgate.engines.sidecar.process import Child, ChildKind, ChildProcess, ChildStartError
from statusgate.settings import Settings
from statusgate.store import engine_keys
from statusgate.store.db import Database

CHILD_SCRIPT = install.CHILD_DIR / "child.mjs"
#: what a Baileys child needs of the environment beyond the defaults: a test CA for a loopback media host
ENV_NAMES = frozenset({"NODE_EXTRA_CA_CERTS"})

_KIND = ChildKind(
    codec=CODEC,
    is_event=is_event,
    fatal_reason=lambda frame: frame.reason if isinstance(frame, Fatal) else None,
    shutdown=Shutdown(),
    env_names=ENV_NAMES,
    is_request=is_key_request,
)

#: the category and id of Baileys' creds among an account's keys (child/auth_state.mjs)
CREDS = "creds"
#: the Fence an instance's writes carry now, None when this worker may not act for it
FenceOf = Callable[[int], Fence | None]


def is_loopback_literal(url: str) -> bool:
    """Whether ``url``'s host is an IP literal in 127.0.0.0/8 or ``[::1]``, in its plain spelling (no
    names, no ``127.1`` or octal forms, which some resolvers would read otherwise)."""
    try:
        split = urlsplit(url)
        host = split.hostname
    except ValueError:
        return False
    if host is None:
        return False
    if split.netloc.rsplit("@", 1)[-1].startswith("["):
        return host == "::1"
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return address in ipaddress.IPv4Network("127.0.0.0/8") and str(address) == host


def root_key_refusal(settings: Settings) -> str | None:
    """Why the configured test root key may not be used (None: no key, or a usable one)."""
    key = settings.baileys_test_root_key
    if not key:
        return None
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return "STATUSGATE_BAILEYS_TEST_ROOT_KEY is not base64"
    if len(raw) != 32:
        return f"STATUSGATE_BAILEYS_TEST_ROOT_KEY is {len(raw)} bytes, not 32"
    if not is_loopback_literal(settings.baileys_ws_url):
        return (
            "STATUSGATE_BAILEYS_TEST_ROOT_KEY is honoured only with a STATUSGATE_BAILEYS_WS_URL whose host is "
            f"a loopback IP literal, not {settings.baileys_ws_url!r}"
        )
    return None


def limits(s: Settings) -> Limits:
    return Limits(
        start_timeout=s.baileys_start_timeout_seconds,
        qr_timeout=s.baileys_qr_timeout_seconds,
        pairing_timeout=s.baileys_pairing_timeout_seconds,
        request_timeout=s.baileys_request_timeout_seconds,
        restart_base=s.baileys_restart_base_seconds,
        restart_cap=s.baileys_restart_cap_seconds,
        stop_timeout=s.baileys_stop_timeout_seconds,
    )


class Launcher:
    def __init__(self, settings: Settings, db: Database, fence_of: FenceOf) -> None:
        self.settings = settings
        self.db = db
        self.fence_of = fence_of
        self.prefix = tuple(shlex.split(settings.test_baileys_child_prefix))
        self.pool: ProcessPool | None = None
        if settings.baileys_accounts_per_process > 1:
            self.pool = ProcessPool(
                "baileys",
                self._command,
                _KIND,
                settings.baileys_accounts_per_process,
                log=logging.getLogger("statusgate.engine.baileys.shared"),
                request_concurrency=settings.child_request_concurrency,
                request_backlog=settings.child_request_backlog,
            )

    def _command(self) -> list[str]:
        node = install.NodeRuntime.from_wheel().node
        return [*self.prefix, str(node), str(CHILD_SCRIPT)]

    def _fence(self, instance_id: int) -> Fence:
        fence = self.fence_of(instance_id)
        if fence is None:
            raise ChildStartError(f"this worker does not hold instance {instance_id}")
        return fence

    def child(
        self, instance_id: int, on_event: Callable[[Event], None], on_exit: Callable[[int], None]
    ) -> Child:
        keys = KeyRequests(self.db, self._fence(instance_id))
        if self.pool is not None:
            return self.pool.channel(instance_id, on_event, on_exit, keys)
        return ChildProcess(
            f"baileys[{instance_id}]",
            self._command(),
            _KIND,
            log=logging.getLogger(f"statusgate.engine.baileys.{instance_id}"),
            on_event=on_event,
            on_exit=on_exit,
            on_request=keys,
            request_concurrency=self.settings.child_request_concurrency,
            request_backlog=self.settings.child_request_backlog,
        )

    def hello(self, instance_id: int, pair: bool) -> Hello:
        s = self.settings
        return Hello(
            version=PROTOCOL_VERSION,
            instance_id=instance_id,
            install_dir=str(install.install_path(s.effective_engines_dir)),
            ws_url=s.baileys_ws_url,
            pair=pair,
            browser=s.baileys_browser_name,
            test_root_key=s.baileys_test_root_key,
            query_timeout_ms=round(s.baileys_request_timeout_seconds * 1000),
            restart_base_ms=round(s.baileys_restart_base_seconds * 1000),
            restart_cap_ms=round(s.baileys_restart_cap_seconds * 1000),
            wa_version=s.baileys_wa_version,
        )

    async def wipe(self, instance_id: int) -> None:
        await self.db.write(engine_keys.wipe, self._fence(instance_id))

    async def linked(self, instance_ids: Sequence[int]) -> set[int]:
        """Those of ``instance_ids`` whose creds are stored: a phone linked them (auth_state.mjs stores
        the creds last, so a commit cut short reads as not linked)."""
        if not instance_ids:
            return set()
        return await self.db.read(engine_keys.having, CREDS, CREDS, instance_ids)
