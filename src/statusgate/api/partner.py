"""Green's Partner API (``/partner/{method}/{partnerToken}``) and its own error shape: HTTP 200 with
``{"code": N, "description": "…"}``. The token is checked before the body is read; wrong tokens are
throttled per client address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from statusgate.api import requests
from statusgate.api import responses as answers
from statusgate.api.bodies import read_capped
from statusgate.api.methods import BodyModel
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


@dataclass(frozen=True)
class PartnerMethod:
    """One route of the Partner API: the table the handler checks a call against and the OpenAPI document
    is made from."""

    name: str
    verb: str
    summary: str
    #: the shape of its answer when it is not a refusal (a type of ``api.responses``, or a list of one)
    response: Any
    #: the model of its JSON body; None: it takes none
    body: BodyModel | None = None
    #: it writes: the storage or the engine may fail it (Green's own 507 and 502, not the partner shape)
    writes: bool = False
    #: its body names an instance, which may not be there (a refusal with code 404)
    names_instance: bool = False


PARTNER_METHODS: dict[str, PartnerMethod] = {
    m.name: m
    for m in (
        PartnerMethod(
            "createInstance",
            "POST",
            "Make an instance: its id and token (shown this once)",
            answers.CreatedInstance,
            body=lambda s: s.create_instance,
            writes=True,
        ),
        PartnerMethod("getInstances", "GET", "Every instance of this server", list[answers.PartnerInstance]),
        PartnerMethod(
            "deleteInstanceAccount",
            "POST",
            "Delete an instance with everything it holds (a linked phone is logged out first)",
            answers.InstanceDeleted,
            body=lambda s: s.delete_instance_account,
            writes=True,
            names_instance=True,
        ),
    )
}


def _shape(code: int, description: str) -> Response:
    return JSONResponse({"code": code, "description": description}, status_code=200)


def _date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _listed(instance: Instance) -> answers.PartnerInstance:
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
        self.answers: dict[str, TypeAdapter[Any]] = {
            name: TypeAdapter(m.response) for name, m in PARTNER_METHODS.items()
        }

    async def handle(self, request: Request) -> Response:
        client = request.client.host if request.client else ""
        if self.throttle.blocked(client):
            return _shape(429, "Too Many Requests")
        # the token before anything of the body is read
        if not await self.auth.matches(request.path_params["token"]):
            self.throttle.failed(client)
            return _shape(401, "Unauthorized")
        method = PARTNER_METHODS.get(request.path_params["method"])
        if method is None or method.verb != request.method:
            return _shape(404, "Not found")
        result: Any
        try:
            if method.name == "createInstance":
                result = await self._create(await self._body(request))
            elif method.name == "getInstances":
                result = [_listed(i) for i in await partner.list_all(self.ctx)]
            else:
                result = await self._delete(await self._body(request))
                if result is None:
                    return _shape(404, "Not found")
        except ApiError as exc:
            if isinstance(exc, BadRequestError) and not isinstance(exc, ValidationError):
                return _shape(400, f"Validation failed. Details: {exc.message}")
            return _shape(exc.http_status, exc.message)
        # as the Green router does: an answer off its documented shape is a 500, never a body the
        # OpenAPI document does not describe
        answer = self.answers[method.name]
        return Response(answer.dump_json(answer.validate_python(result)), media_type="application/json")

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

    async def _create(self, data: dict[str, Any]) -> answers.CreatedInstance:
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
        return {
            "idInstance": credentials.id_instance,
            "apiTokenInstance": credentials.api_token,
            "apiUrl": credentials.api_url,
            "mediaUrl": credentials.media_url,
            "typeInstance": "whatsapp",
        }

    async def _delete(self, data: dict[str, Any]) -> answers.InstanceDeleted | None:
        """None: there is no such instance."""
        id_instance = data.get("idInstance")
        if not isinstance(id_instance, int) or isinstance(id_instance, bool) or id_instance < 0:
            raise ValidationError("'idInstance' must be a number")
        if not await partner.delete(self.ctx, id_instance):
            return None
        # its token stops working now, not when this node's cache of it expires
        self.instance_auth.forget(id_instance)
        return {"deleteInstanceAccount": True}


def partner_routes(
    ctx: ServiceContext, schemas: Schemas, instance_auth: Authenticator, throttle: FailureThrottle
) -> list[BaseRoute]:
    if ctx.settings.partner_api == "off":
        return []
    api = PartnerApi(ctx, schemas, instance_auth, throttle)
    return [Route("/partner/{method}/{token}", api.handle, methods=["GET", "POST"])]
