"""The settings of the ways in besides the Green API: Green's Partner API and the web console, and the
tokens they take. Part of :class:`statusgate.settings.Settings`, kept apart so neither file grows past what
one can read through; same env prefix (``STATUSGATE_``), same flags of ``statusgate serve``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AccessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STATUSGATE_", frozen=True, extra="ignore")

    # --- partner API ---------------------------------------------------------------------------------------
    partner_api: Literal["on", "off"] = Field(
        "on",
        description="Green's Partner API (`/partner/createInstance`, `getInstances`, `deleteInstanceAccount`) "
        "on the api role; `off` removes its routes.",
    )
    partner_token: str = Field(
        "",
        description="The Partner API's token (at least 32 characters; required when API nodes run on several "
        "machines). Empty: generated on first use and kept in `partner-token` in the data dir (mode 0600); "
        "`statusgate partner-token` prints it.",
    )
    partner_default_engine: Literal["sandbox", "whatsapp", "baileys"] = Field(
        "sandbox", description="The engine of an instance made by `createInstance` without `engine`."
    )
    credentials_cache_seconds: float = Field(
        0.5,
        ge=0,
        le=60,
        description="How long an API node trusts what it read of an instance's token and of the partner "
        "token: a token changed by another process (`statusgate instance rotate-token`, `statusgate "
        "partner-token --rotate`, an instance deleted) stops working on every node within this. 0 reads the "
        "database on every request.",
    )
    partner_failures_per_minute: int = Field(
        10,
        ge=1,
        description="Wrong tokens (partner or instance, at /partner/* or the console's sign-in) a client "
        "address may present per minute; past it /partner/* answers 429 (in the partner shape) and the "
        "console refuses sign-ins until the minute has passed.",
    )

    # --- console -----------------------------------------------------------------------------------------
    console: Literal["on", "off"] = Field(
        "on", description="The web console at `/console` on the api role; `off` removes its routes."
    )
    console_idle_seconds: int = Field(
        1800, ge=60, description="A console session unused this long ends (the browser signs in again)."
    )
    console_max_seconds: int = Field(
        43200, ge=60, description="A console session ends this long after its sign-in, however busy."
    )
    console_form_max_bytes: int = Field(
        64 * 1024,
        ge=4096,
        description="The most a console form may send (a sign-in or settings form), and each text field of "
        "its posting form; the posting form's file is bounded by `max_upload_bytes`. Past it the form is "
        "refused.",
    )

    @field_validator("partner_token")
    @classmethod
    def _partner_token_long(cls, value: str) -> str:
        if value and (len(value) < 32 or not value.isprintable() or value.strip() != value):
            raise ValueError("must be at least 32 printable characters, no spaces at either end")
        return value
