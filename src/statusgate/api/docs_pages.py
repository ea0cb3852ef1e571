"""``/openapi.json`` and ``/docs`` (Swagger UI, vendored in ``swagger_ui/``), unless ``api_docs`` is off."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statusgate.api.assets import asset_endpoint
from statusgate.api.openapi import document
from statusgate.settings import Settings

_SWAGGER_UI = Path(__file__).parent / "swagger_ui"
#: what /docs/ serves; nothing else in the folder is reachable (their names are in
#: redaction.PUBLIC_FILE_NAMES, so the access log shows them)
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "initializer.js": "text/javascript",
}
_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=3600"}


def docs_routes(settings: Settings) -> list[BaseRoute]:
    if settings.api_docs == "off":
        return []
    # made once: the document depends on the settings only
    spec = json.dumps(document(settings), ensure_ascii=False, separators=(",", ":")).encode()
    page = (_SWAGGER_UI / "index.html").read_bytes()

    async def openapi_json(_request: Request) -> Response:
        return Response(spec, media_type="application/json")

    async def docs_page(_request: Request) -> Response:
        return Response(
            page, media_type="text/html; charset=utf-8", headers={"X-Content-Type-Options": "nosniff"}
        )

    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs_page, methods=["GET"]),
        Route("/docs/{asset}", asset_endpoint(_SWAGGER_UI, ASSETS, _HEADERS), methods=["GET"]),
    ]
