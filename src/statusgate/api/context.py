"""What a method handler gets: the services' context, the authenticated instance, the request and its body."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel
from starlette.requests import Request

from statusgate.domain.models import Instance
from statusgate.services.context import ServiceContext
from statusgate.services.instances import Authenticator


@dataclass
class Call:
    ctx: ServiceContext
    auth: Authenticator
    instance: Instance
    request: Request
    body: bytes
    #: the model of the method's JSON body, built for these settings (None: the method takes no body)
    model: type[BaseModel] | None
    #: the query parameters the method declares
    declared: frozenset[str]
    #: path segment after the token (deleteNotification's receiptId)
    extra: str | None = None

    def query(self, name: str) -> str | None:
        # reading only what the method table declares keeps the OpenAPI document, made from that table,
        # true to what each handler reads
        assert name in self.declared, f"query parameter {name!r} is not in the method table"
        return self.request.query_params.get(name)
