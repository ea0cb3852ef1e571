"""The one settings object every command reads (pydantic-settings, env prefix ``STATUSGATE_``).

The settings of the engines that run child processes (whatsapp, baileys) are in ``settings_engines``, which
this class extends. Each field is also a flag of ``statusgate serve`` (``--data-dir``, ``--max-file-bytes`` …); ``docs/settings.md``
is generated from this class by ``python -m statusgate settings-doc``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from statusgate.settings_access import AccessSettings
from statusgate.settings_engines import EngineProcessSettings
from statusgate.settings_media import MediaConversionSettings


class Settings(EngineProcessSettings, MediaConversionSettings, AccessSettings):
    model_config = SettingsConfigDict(env_prefix="STATUSGATE_", frozen=True, extra="ignore")

    # --- where things live -------------------------------------------------------------------------------
    data_dir: Path = Field(Path("./data"), description="SQLite database, media files and engine sessions.")
    database_url: str = Field(
        "", description="SQLAlchemy URL of the database; empty means SQLite in the data dir."
    )
    engines_dir: Path | None = Field(
        None,
        description="Where `statusgate engines install` puts what an engine needs beside Python (the baileys "
        "engine's Node packages): a directory of this machine, not the shared data dir. Empty means "
        "`$XDG_DATA_HOME/statusgate/engines`, else `~/.local/share/statusgate/engines`.",
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL",
        description="SQLite's synchronous mode. NORMAL (WAL): an accepted status survives a crash of the "
        "process; FULL: it also survives power loss, at one fsync per commit.",
    )
    role: Literal["all", "api", "worker"] = Field(
        "all",
        description="What `serve` runs: `all` (the Green API, the media host and the worker in one process), "
        "`api` (the Green API and the media host: no senders, no engine sessions) or `worker` (preparation, "
        "sending, engine sessions, commands, webhooks, sweeps; only /health, on worker_port). On SQLite: "
        "`all`, or one `api` and one `worker` on the same database.",
    )
    host: str = Field("127.0.0.1", description="Address `serve` binds to (loopback by default).")
    port: int = Field(8080, ge=0, le=65535, description="Port `serve` listens on (the API's).")
    worker_port: int = Field(
        8081,
        ge=0,
        le=65535,
        description="Port of a `--role worker` process's /health (it serves nothing else).",
    )
    public_url: str = Field(
        "",
        description="Base of apiUrl, mediaUrl and every link the server hands out; "
        "empty means http://<host>:<port>. When set, the console's forms are taken only from this origin "
        "(scheme, host and port): set it behind a TLS proxy.",
    )

    # --- HTTP --------------------------------------------------------------------------------------------
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest JSON request body accepted (413 above it)."
    )
    max_upload_bytes: int = Field(104_857_600, ge=1, description="Largest uploadFile body (413 above it).")
    cors_allowed_origins: str = Field(
        "",
        description="Comma-separated origins (`https://app.example.com`) whose pages may call the API from "
        "a browser; `*` allows any; empty allows none. Preflights are answered 204 either way.",
    )

    # --- statuses ----------------------------------------------------------------------------------------
    delay_default_ms: int = Field(3000, ge=0, description="A new instance's delaySendMessagesMilliseconds.")
    delay_min_ms: int = Field(
        500, ge=0, description="Smallest delaySendMessagesMilliseconds setSettings accepts."
    )
    delay_max_ms: int = Field(
        600_000, ge=1, description="Largest delaySendMessagesMilliseconds setSettings accepts."
    )
    queue_retention_seconds: float = Field(
        86_400, gt=0, description="How long a status may wait for authorization before it expires."
    )
    audience_limit: int = Field(
        1024, ge=1, description="Default audience: the first N contacts that have a contactName."
    )
    max_participants: int = Field(1024, ge=1, description="Most entries a participants array may have.")
    max_caption_chars: int = Field(1024, ge=1, description="Longest caption of sendMediaStatus.")
    max_text_chars: int = Field(500, ge=1, description="Longest message of sendTextStatus.")
    max_file_name_chars: int = Field(255, ge=1, description="Longest fileName.")
    max_url_chars: int = Field(4096, ge=1, description="Longest urlFile.")
    queue_list_limit: int = Field(500, ge=1, description="Most items showMessagesQueue lists.")

    # --- media -------------------------------------------------------------------------------------------
    max_media_seconds: float = Field(60, gt=0, description="Audio and video are cut to this length.")
    max_file_bytes: int = Field(
        104_857_600, ge=1, description="Largest file fetched from urlFile (the download stops there)."
    )
    fetch_connect_timeout_seconds: float = Field(10, gt=0, description="urlFile connect timeout.")
    fetch_read_timeout_seconds: float = Field(30, gt=0, description="urlFile timeout between two reads.")
    fetch_total_timeout_seconds: float = Field(300, gt=0, description="urlFile whole-download timeout.")
    fetch_max_redirects: int = Field(5, ge=0, description="Most redirects followed for urlFile.")
    allow_private_urls: bool = Field(
        False,
        description="Allow urlFile and webhookUrl to reach loopback, private, link-local and metadata "
        "addresses (local use and tests only).",
    )
    prepare_concurrency: int = Field(2, ge=1, description="Statuses whose media is prepared at once.")
    upload_retention_seconds: float = Field(1_296_000, gt=0, description="How long uploadFile links live.")
    receive_timeout_min_seconds: int = Field(
        5,
        ge=0,
        description="The smallest `receiveTimeout` receiveNotification takes (Green: 5); shorter asks are a 400.",
    )
    receive_timeout_max_seconds: int = Field(
        60,
        ge=0,
        description="The longest `receiveTimeout` receiveNotification takes (Green: 60): lower it when a proxy "
        "in front of statusgate ends idle requests sooner. Without `receiveTimeout` a request waits 5 s, or "
        "the nearest bound.",
    )
    journal_retention_seconds: float = Field(
        2_592_000, gt=0, description="How long outgoing/incoming status journals are kept."
    )

    # --- engines and workers -----------------------------------------------------------------------------
    engine_timeout_seconds: float = Field(30, gt=0, description="Longest wait for an engine's answer.")
    sandbox_reboot_seconds: float = Field(
        2, ge=0, description="How long a sandbox instance stays `starting` after reboot."
    )
    lease_seconds: float = Field(
        30,
        gt=0,
        description="A worker's hold on an instance, and on a claimed send, lapses after this long without "
        "a heartbeat; another worker then takes it over. Renewed every third of it.",
    )
    lease_margin_seconds: float | None = Field(
        None,
        gt=0,
        description="A worker that could not renew its leases stops sending for its instances this long "
        "before they lapse (by its own clock), so that it never acts on a lease another worker may hold; "
        "empty means a sixth of lease_seconds.",
    )
    poll_interval_seconds: float = Field(
        0.5, gt=0, description="How often idle workers look for changes made outside the server (CLI)."
    )
    send_lead_seconds: float = Field(
        0.1,
        ge=0,
        description="How long before an instance's next send may start its sender reads the queue's head "
        "and claims it, so that the send call itself starts on time (never before the delay is over).",
    )
    send_max_attempts: int = Field(
        5, ge=1, description="Attempts at sending a status before a transient engine fault fails it."
    )
    send_retry_base_seconds: float = Field(
        1.0, ge=0, description="Wait before the first retry of a send; doubles with each attempt."
    )
    send_retry_cap_seconds: float = Field(60.0, ge=0, description="Longest wait between two send attempts.")
    prepare_retry_base_seconds: float = Field(
        5,
        gt=0,
        description="While the disk is full, a status whose media could not be prepared goes back to the "
        "queue and is prepared again after this (it never fails for that); the wait doubles each time. "
        "The queue's own writes that find the disk full wait the same way.",
    )
    prepare_retry_cap_seconds: float = Field(
        300, gt=0, description="Longest wait between two tries while the disk is full."
    )
    sweep_interval_seconds: float = Field(
        300, gt=0, description="How often old journals, expired uploads and unneeded media are removed."
    )
    media_sweep_grace_seconds: float = Field(
        3600,
        ge=60,
        description="The sweep leaves media files younger than this, used or not: one may belong to a "
        "preparation that has not recorded it yet (longer than the longest conversion).",
    )
    queue_batch_window_seconds: float = Field(
        0.05, ge=0, description="Wake-ups of the queue workers closer together than this share one pass."
    )
    command_timeout_seconds: float = Field(
        45,
        gt=0,
        description="How long a request that needs the phone (qr, logout, reboot, checkWhatsapp, "
        "getAuthorizationCode, revoking a status) waits for the worker's answer; longer than the engines' own "
        "waits. Past it Green's 502, and the command is never carried out later.",
    )
    command_retention_seconds: float = Field(
        3600, gt=0, description="How long answered commands are kept (for the record) before the sweep."
    )
    shutdown_grace_seconds: float = Field(
        30, ge=0, description="On SIGTERM, how long to wait for sends in flight."
    )

    # --- notifications (used by later features; listed so every deployment can set them) -----------------
    webhook_timeout_seconds: float = Field(
        180, gt=0, description="A webhook POST must answer 2xx within this."
    )
    webhook_retry_seconds: float = Field(60, gt=0, description="Wait before retrying a failed webhook.")
    notification_retention_seconds: float = Field(
        86_400, gt=0, description="How long undelivered notifications are kept."
    )

    # --- rate limits -------------------------------------------------------------------------------------
    rate_limits: Literal["on", "off"] = Field(
        "on",
        description="Green's per-method limits, per instance (requests per second: sendMediaStatus 5, "
        "getSettings 1, receiveNotification 100, …; docs/decisions.md lists them): over one, Green's 429 "
        "with a whole-second Retry-After. Counted per API node, in memory (see rate_limit_api_nodes).",
    )
    rate_limit_overrides: str = Field(
        "",
        description="Changes to the limits, comma-separated: `method=N` (N requests per second per "
        "instance, above 0) or `method=off`, e.g. `sendTextStatus=20,getSettings=off`; method names in any "
        "case.",
    )
    rate_limit_api_nodes: int = Field(
        1,
        ge=1,
        description="How many API nodes share the traffic: each allows this share of every limit, so "
        "that the cluster as a whole holds Green's (with a balancer that spreads an instance's requests).",
    )

    # --- metrics -----------------------------------------------------------------------------------------
    api_docs: Literal["on", "off"] = Field(
        "on",
        description="`/openapi.json` (OpenAPI 3.1 of the Green methods this server answers, with its own limits; "
        "the Partner API's too while partner_api is on) "
        "and `/docs` (Swagger UI, served from the package: no network needed) on the api role.",
    )
    metrics: Literal["on", "off"] = Field(
        "on",
        description="`/metrics` in Prometheus' text format on the api and worker roles (a worker's on "
        "worker_port): queue depth by state, sends and preparations by outcome and how long they took, the "
        "webhook backlog and failures, Green requests by method and code. No label names an instance.",
    )
    metrics_token: str = Field(
        "",
        description="When set, `/metrics` answers only a request with `Authorization: Bearer <this>` (401 "
        "otherwise); empty leaves it open to whoever can reach the port.",
    )

    # --- logs --------------------------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        description="The least severe lines `serve` writes (any case): each status's way through the "
        "gateway (fetched, converted, trimmed, sent) is at INFO, what went wrong at WARNING and above.",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="`text`: one line per record (time, level, logger, message). `json`: one JSON object "
        "per line, with `time` (UTC, ISO 8601), `level`, `logger`, `message` and the record's own fields "
        "(`idMessage`, `instance`, durations in `...Ms`, sizes in `...Bytes`). Tokens are masked either way.",
    )

    # --- test-only ---------------------------------------------------------------------------------------
    test_crash_point: str = Field(
        "",
        description="Test only: `NAME[:N]` kills the process (SIGKILL) the N-th time the named point is "
        "reached, e.g. `after_engine_send:3`.",
    )
    test_fail_method: str = Field(
        "",
        description="Test only: the Green method (e.g. `getSettings`) whose every call fails with an internal "
        "error, to prove a 500 leaves the connection usable.",
    )
    test_blind_resend: bool = Field(
        False,
        description="Test only: later attempts send again without asking the engine whether the first "
        "arrived (proves the exactly-once tests can fail).",
    )

    test_whatsapp_proxy: str = Field(
        "",
        description="Test only: proxy URL (`socks5://127.0.0.1:PORT`) for every connection neonize makes; a "
        "dead loopback proxy keeps tests off the network.",
    )
    test_whatsapp_client: str = Field(
        "",
        description="Test only: `module:callable` that builds the neonize client in engine processes (a fake).",
    )
    test_whatsapp_child_prefix: str = Field(
        "", description="Test only: command prefix for engine processes, e.g. `unshare -n`."
    )

    test_baileys_child_prefix: str = Field(
        "", description="Test only: command prefix for baileys engine processes, e.g. `nsenter -t PID -n`."
    )

    @field_validator("rate_limit_overrides")
    @classmethod
    def _overrides_parse(cls, value: str) -> str:
        parse_rate_overrides(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format_in_any_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _receive_bounds_in_order(self) -> Settings:
        if self.receive_timeout_min_seconds > self.receive_timeout_max_seconds:
            raise ValueError(
                f"receive_timeout_min_seconds ({self.receive_timeout_min_seconds}) must not exceed "
                f"receive_timeout_max_seconds ({self.receive_timeout_max_seconds})"
            )
        return self

    @model_validator(mode="after")
    def _margin_within_lease(self) -> Settings:
        if self.lease_margin_seconds is not None and self.lease_margin_seconds >= self.lease_seconds:
            raise ValueError(
                f"lease_margin_seconds ({self.lease_margin_seconds:g}) must be less than lease_seconds "
                f"({self.lease_seconds:g}): a worker would never hold a lease long enough to use it"
            )
        return self

    @property
    def lease_margin(self) -> float:
        """:attr:`lease_margin_seconds`, or its default."""
        if self.lease_margin_seconds is None:
            return self.lease_seconds / 6
        return self.lease_margin_seconds

    @property
    def effective_engines_dir(self) -> Path:
        if self.engines_dir is not None:
            return self.engines_dir
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base) / "statusgate" / "engines"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'statusgate.db').resolve()}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"


def parse_rate_overrides(text: str) -> dict[str, float | None]:
    """``rate_limit_overrides``: ``method=N`` (N requests per second, a number > 0) or ``method=off``,
    comma-separated; method names in any case. ValueError, naming the item, for anything else."""
    overrides: dict[str, float | None] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        method, sep, value = (piece.strip() for piece in item.partition("="))
        if not sep or not method:
            raise ValueError(f"{item!r} is not method=N or method=off")
        if value.lower() == "off":
            overrides[method.lower()] = None
            continue
        try:
            rate = float(value)
        except ValueError:
            raise ValueError(f"{item!r}: {value!r} is not a number of requests per second") from None
        if not math.isfinite(rate) or rate <= 0:
            raise ValueError(f"{item!r}: the rate must be a number above 0")
        overrides[method.lower()] = rate
    return overrides
