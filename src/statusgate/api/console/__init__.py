"""The web console at ``/console``: server-rendered pages over the same services as the Green API."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Route

from statusgate.api.assets import asset_endpoint
from statusgate.api.console.instance import InstancePage
from statusgate.api.console.instances import InstancePages
from statusgate.api.console.posting import PostingPage
from statusgate.api.console.signin import SignInPages
from statusgate.api.console.status_pages import StatusPages
from statusgate.api.console.web import PREFIX, SECURITY_HEADERS, Console, with_wrong_methods
from statusgate.api.schemas import Schemas
from statusgate.api.throttle import FailureThrottle
from statusgate.services.context import ServiceContext
from statusgate.services.instances import Authenticator

_STATIC = Path(__file__).parent / "static"
#: what /console/static/ serves; nothing else in the folder is reachable
ASSETS = {
    "htmx.min.js": "text/javascript",
    "console.css": "text/css",
    "console.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}
_ASSET_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"}


def console_routes(
    ctx: ServiceContext, schemas: Schemas, instance_auth: Authenticator, sign_in_failures: FailureThrottle
) -> list[BaseRoute]:
    if ctx.settings.console == "off":
        return []
    console = Console(ctx, schemas, instance_auth)
    instance_page = InstancePage(console)

    routes = [
        Route(f"{PREFIX}/static/{{asset}}", asset_endpoint(_STATIC, ASSETS, _ASSET_HEADERS), methods=["GET"]),
        *SignInPages(console, sign_in_failures).routes(),
        *InstancePages(console, instance_page).routes(),
        *instance_page.routes(),
        *PostingPage(console).routes(),
        *StatusPages(console).routes(),
    ]
    # last: any other address under the prefix is the console's 404 page (OPTIONS stays the app's preflight)
    unknown = Route(
        f"{PREFIX}/{{rest:path}}",
        console.not_found(),
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    return [*with_wrong_methods(console, routes), unknown]
