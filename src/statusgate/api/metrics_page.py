"""``/metrics``: the process's Prometheus series, on the api and worker roles alike (``metrics`` setting), behind
a bearer token when ``metrics_token`` is set."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statusgate import metrics
from statusgate.services import metrics as metrics_service
from statusgate.services.context import ServiceContext


def metrics_routes(ctx: ServiceContext) -> list[BaseRoute]:
    """The ``/metrics`` route, or none when the ``metrics`` setting is off."""
    if ctx.settings.metrics == "off":
        return []
    expected = f"Bearer {ctx.settings.metrics_token}".encode()

    async def metrics_page(request: Request) -> Response:
        if ctx.settings.metrics_token:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return Response("Unauthorized\n", status_code=401, headers={"WWW-Authenticate": "Bearer"})
        body = await metrics_service.scrape(ctx)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    return [Route("/metrics", metrics_page, methods=["GET"])]
