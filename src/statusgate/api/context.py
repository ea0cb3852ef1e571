"""What a method handler gets: the services' context, the authenticated instance, the request and its body."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from statusgate.api.schemas import Schemas
from statusgate.domain.models import Instance
from statusgate.services.context import ServiceContext
from statusgate.services.instances import Authenticator


@dataclass
class Call:
    ctx: ServiceContext
    auth: Authenticator
    schemas: Schemas
    instance: Instance
    request: Request
    body: bytes
    #: path segment after the token (deleteNotification's receiptId)
    extra: str | None = None
