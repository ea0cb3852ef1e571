"""Green's Partner API (``/partner/{method}/{partnerToken}``) and its own error shape: HTTP 200 with
``{"code": N, "description": "…"}``. The token is checked before the body is read; wrong tokens are
throttled per client address."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from statusgate.api import requests
from statusgate.api.bodies import read_capped
from statusgate.api.schemas import Schemas
from statusgate.api.throttle import FailureThrottle
from statusgate.api.validation import parse_json, validate
from statusgate.domain.models import EngineName, Instance
from statusgate.errors import ApiError, BadRequestError, PayloadTooLargeError, ValidationError
from statusgate.services import partner
from statusgate.services.context import ServiceContext
from statusgate.services.instances import Authenticator

#: Green's partner API has no expiry on a self-hosted server: a date far enough to never matter
FAR_FUTURE = "2099-12-31 23:59:59"
NEVER = ""


def _shape(code: int, description: str) -> Response:
    return JSONResponse({"code": code, "description": description}, status_code=200)


def _date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _listed(instance: Instance) -> dict[str, Any]:
    return {
        "idInstance": instance.id_instance,
        "name": instance.name or "",
        "typeInstance": "whatsapp",
        "typeAccount": "instance",
        "partnerUserUiid": "",
        "timeCreated": _date(instance.created_at),
        "timeDeleted": NEVER,
        "apiTokenInstance": "",
        "deleted": False,
        "tariff": "self-hosted",
        "isFree": True,
        "isPartner": True,
        "expirationDate": FAR_FUTURE,
        "isExpired": False,
    }


class PartnerApi:
    def __init__(
        self, ctx: ServiceContext, schemas: Schemas, instance_auth: Authenticator, throttle: FailureThrottle
    ) -> None:
        self.ctx = ctx
        self.instance_auth = instance_auth
        self.auth = partner.PartnerAuthenticator(ctx)
        self.settings_model = schemas.set_settings
        self.throttle = throttle

    async def handle(self, request: Request) -> Response:
        client = request.client.host if request.client else ""
        if self.throttle.blocked(client):
            return _shape(429, "Too Many Requests")
        # the token before anything of the body is read
        if not await self.auth.matches(request.path_params["token"]):
            self.throttle.failed(client)
            return _shape(401, "Unauthorized")
        method = request.path_params["method"]
        try:
            if method == "createInstance" and request.method == "POST":
                return JSONResponse(await self._create(await self._body(request)))
            if method == "getInstances" and request.method == "GET":
                return JSONResponse([_listed(i) for i in await partner.list_all(self.ctx)])
            if method == "deleteInstanceAccount" and request.method == "POST":
                return await self._delete(await self._body(request))
        except ApiError as exc:
            if isinstance(exc, BadRequestError) and not isinstance(exc, ValidationError):
                return _shape(400, f"Validation failed. Details: {exc.message}")
            return _shape(exc.http_status, exc.message)
        return _shape(404, "Not found")

    async def _body(self, request: Request) -> dict[str, Any]:
        # the same cap as every JSON body of the Green API (a named setting), in the partner shape
        limit = self.ctx.settings.max_body_bytes
        try:
            body = await read_capped(request, limit)
        except PayloadTooLargeError:
            raise ValidationError(f"the body is larger than {limit} bytes") from None
        data = parse_json(body)
        if not isinstance(data, dict):
            raise ValidationError("the body must be a JSON object")
        return data

    async def _create(self, data: dict[str, Any]) -> dict[str, Any]:
        engine_raw = data.pop("engine", self.ctx.settings.partner_default_engine)
        name = data.pop("name", None)
        if name is not None and not isinstance(name, str):
            raise ValidationError("'name' must be a string")
        if not data and name is None:
            raise ValidationError("'value' must have at least 1 key")
        try:
            engine = EngineName(engine_raw)
        except ValueError:
            raise ValidationError(
                f"'engine' must be one of [{', '.join(e.value for e in EngineName)}]"
            ) from None
        fields = validate(self.settings_model, data).model_dump(exclude_unset=True) if data else {}
        credentials = await partner.create(self.ctx, engine, name, requests.settings_change(fields))
        return credentials.as_json() | {"typeInstance": "whatsapp"}

    async def _delete(self, data: dict[str, Any]) -> Response:
        id_instance = data.get("idInstance")
        if not isinstance(id_instance, int) or isinstance(id_instance, bool) or id_instance < 0:
            raise ValidationError("'idInstance' must be a number")
        if not await partner.delete(self.ctx, id_instance):
            return _shape(404, "Not found")
        # its token stops working now, not when this node's cache of it expires
        self.instance_auth.forget(id_instance)
        return JSONResponse({"deleteInstanceAccount": True})


def partner_routes(
    ctx: ServiceContext, schemas: Schemas, instance_auth: Authenticator, throttle: FailureThrottle
) -> list[BaseRoute]:
    if ctx.settings.partner_api == "off":
        return []
    api = PartnerApi(ctx, schemas, instance_auth, throttle)
    return [Route("/partner/{method}/{token}", api.handle, methods=["GET", "POST"])]
