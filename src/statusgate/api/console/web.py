"""What every console page shares: templates, the session cookie, CSRF, security headers and errors.

Pages are plain HTML forms (they work with the keyboard alone and without script); htmx, vendored in
``static/``, only refreshes fragments (the instance's state and QR code). Nothing from a tenant or a WhatsApp
user reaches a page unescaped: Jinja2 autoescapes everything, no template puts a value into a script, a style
or a URL, and the Content-Security-Policy allows scripts and styles from this origin only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from statusgate.api.bodies import read_capped
from statusgate.api.console import origin
from statusgate.api.console.chart import duration_label
from statusgate.api.schemas import Schemas
from statusgate.domain.models import Instance
from statusgate.errors import GatewayError, PayloadTooLargeError
from statusgate.services import instances
from statusgate.services.console_sessions import ConsoleSession, resolve
from statusgate.services.context import ServiceContext
from statusgate.services.partner import PartnerAuthenticator

log = logging.getLogger("statusgate.console")

PREFIX = "/console"
COOKIE = "statusgate_console"
_HERE = Path(__file__).parent
#: every console answer: nothing cached, nothing framed, nothing sniffed, no referrer leaving the site
#: ("no-referrer" would make a browser send `Origin: null` on our own form posts, which the origin check refuses)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
#: what may go into an <img src="data:…"> or an SVG fill: base64, a #RRGGBB colour, and nothing else
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")


def safe_base64(value: object) -> str | None:
    return value if isinstance(value, str) and _BASE64.fullmatch(value) else None


def safe_colour(value: object, default: str) -> str:
    return value if isinstance(value, str) and _COLOUR.fullmatch(value) else default


class SignInRequired(Exception):
    """No session, or one that has ended: back to the sign-in page."""


class CsrfRejected(Exception):
    """A state-changing request without this session's CSRF token (or from another origin)."""


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["bytes"] = _bytes
    env.filters["duration"] = duration_label
    return env


def _bytes(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class View:
    """One request to a console page, its session known (or None on the sign-in pages)."""

    request: Request
    session: ConsoleSession | None
    form: Mapping[str, str]

    @property
    def signed_in(self) -> ConsoleSession:
        assert self.session is not None
        return self.session

    def field(self, name: str) -> str:
        return self.form.get(name, "")

    def require_csrf(self, presented: str) -> None:
        """For a form the page reads itself (multipart): its ``csrf`` field must be this session's."""
        if not self.signed_in.csrf_matches(presented):
            raise CsrfRejected()

    @property
    def htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"


Handler = Callable[[View], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class Console:
    def __init__(self, ctx: ServiceContext, schemas: Schemas, instance_auth: instances.Authenticator) -> None:
        self.ctx = ctx
        self.schemas = schemas
        self.instance_auth = instance_auth
        self.partner = PartnerAuthenticator(ctx)
        self.templates = _environment()
        self.secure_cookie = ctx.settings.effective_public_url.lower().startswith("https://")
        # behind a proxy the request's own scheme and Host may be the proxy's upstream ones; public_url says
        # what the browser sees (an unusable one leaves the request to say it)
        self.origin = origin.from_url(ctx.settings.public_url) if ctx.settings.public_url else None

    # --- answers ---------------------------------------------------------------------------------------

    def render(self, view: View, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        page = self.templates.get_template(template).render(session=view.session, prefix=PREFIX, **values)
        return HTMLResponse(page, status_code=status, headers=dict(SECURITY_HEADERS))

    def redirect(self, view: View, path: str) -> Response:
        if view.htmx:
            return Response(status_code=204, headers={"HX-Redirect": path, **SECURITY_HEADERS})
        return RedirectResponse(path, status_code=303, headers=dict(SECURITY_HEADERS))

    def set_cookie(self, response: Response, cookie: str) -> None:
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=self.ctx.settings.console_max_seconds,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=self.secure_cookie,
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(
            COOKIE, path=PREFIX, httponly=True, samesite="strict", secure=self.secure_cookie
        )

    # --- requests --------------------------------------------------------------------------------------

    async def instance(self, view: View, raw_id: str) -> Instance:
        """The instance a page is about, if this session may open it (else a 404, the same answer as for
        an instance that does not exist: a one-instance session learns nothing of the others)."""
        if not raw_id.isascii() or not raw_id.isdigit() or len(raw_id) > 19:
            raise NotFound()
        id_instance = int(raw_id)
        if not view.signed_in.may_open(id_instance):
            raise NotFound()
        try:
            return await instances.get(self.ctx, id_instance)
        except instances.UnknownInstanceError:
            raise NotFound() from None

    def page(self, handler: Handler, *, signed_in: bool = True, multipart: bool = False) -> Endpoint:
        """A Starlette endpoint around ``handler``: the session looked up (and required unless
        ``signed_in`` is False), a POST's form read and its CSRF token checked, errors shown as pages.
        A ``multipart`` page reads its own body and checks its ``csrf`` field with
        :meth:`View.require_csrf` (unless the request carries the token in its header)."""

        async def endpoint(request: Request) -> Response:
            session = await resolve(self.ctx, self.partner, request.cookies.get(COOKIE, ""))
            form: Mapping[str, str] = {}
            view = View(request, session, form)
            try:
                if request.method == "POST":
                    _same_origin(request, self.origin)
                    if _is_urlencoded(request):
                        form = await _read_form(request, self.ctx.settings.console_form_max_bytes)
                    view = View(request, session, form)
                    presented = request.headers.get("x-csrf-token") or form.get("csrf", "")
                    checked_later = multipart and not presented
                    if (
                        session is not None
                        and signed_in
                        and not checked_later
                        and not session.csrf_matches(presented)
                    ):
                        raise CsrfRejected()
                if signed_in and session is None:
                    raise SignInRequired()
                return await handler(view)
            except SignInRequired:
                response = self.redirect(view, f"{PREFIX}?ended=1" if request.cookies.get(COOKIE) else PREFIX)
                self.clear_cookie(response)
                return response
            except CsrfRejected:
                return self.render(view, "error.html", 403, message="This form has expired: reload the page.")
            except NotFound:
                return self.render(view, "error.html", 404, message="No such page.")
            except PayloadTooLargeError:
                return self.render(view, "error.html", 413, message="That is more than this form takes.")
            except GatewayError as exc:
                # the same words the API would answer (they name the field); a server-side failure's
                # details stay in the log
                return self.render(view, "error.html", getattr(exc, "http_status", 400), message=exc.message)

        return endpoint

    def wrong_method(self, allowed: Collection[str]) -> Endpoint:
        """The endpoint for a console path asked in a method it does not take (a form's address opened
        from the address bar, say): a 405 page, ``Allow`` naming the methods the path does take."""
        allow = ", ".join(sorted(allowed))
        message = (
            "This page can only be opened, not sent anything."
            if "GET" in allowed
            else "This address only takes a form sent from the console: open the console and use the form."
        )

        async def endpoint(request: Request) -> Response:
            # the session only decides what the page's header shows; nothing is read or done
            session = await resolve(self.ctx, self.partner, request.cookies.get(COOKIE, ""))
            response = self.render(View(request, session, {}), "error.html", 405, message=message)
            response.headers["Allow"] = allow
            return response

        return endpoint

    def not_found(self) -> Endpoint:
        """The endpoint for a console address that is no page: the console's own 404 page (not Green's
        JSON one), whatever the method; nothing is read or done."""

        async def endpoint(request: Request) -> Response:
            if request.url.path == f"{PREFIX}/" and request.method in ("GET", "HEAD"):
                return RedirectResponse(PREFIX, 307, headers=SECURITY_HEADERS)  # the address as often typed
            session = await resolve(self.ctx, self.partner, request.cookies.get(COOKIE, ""))
            return self.render(View(request, session, {}), "error.html", 404, message="No such page.")

        return endpoint


class WrongMethod(Route):
    """Every request to ``path`` in a method other than ``allowed`` (and OPTIONS, the app's preflight's).

    Without it the router hands such a request to the path's first route, whose 405 the app answers as
    Green's JSON 404, and whose ``Allow`` would name that route's methods only. It goes after every route of
    the path, which take the allowed methods first.
    """

    def __init__(self, path: str, allowed: Collection[str], endpoint: Endpoint) -> None:
        super().__init__(path, endpoint, methods=list(allowed), include_in_schema=False)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is Match.PARTIAL and scope["method"] != "OPTIONS":
            return Match.FULL, child_scope
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def with_wrong_methods(console: Console, routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """``routes`` and, after them, a :class:`WrongMethod` for each of their paths (no two of the console's
    paths match the same URL, so each path's methods are those of the routes spelt the same)."""
    taken: dict[str, set[str]] = {}
    for route in routes:
        if isinstance(route, Route) and route.methods:
            taken.setdefault(route.path, set()).update(route.methods)
    fallbacks = [WrongMethod(path, methods, console.wrong_method(methods)) for path, methods in taken.items()]
    return [*routes, *fallbacks]


class NotFound(Exception):
    """No such page, or one this session may not open (the same answer for both)."""


def _is_urlencoded(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";", 1)[0].strip() == (
        "application/x-www-form-urlencoded"
    )


async def _read_form(request: Request, limit: int) -> dict[str, str]:
    body = await read_capped(request, limit)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return {}
    return dict(pairs)


def _same_origin(request: Request, own: origin.Origin | None) -> None:
    """A browser names the page a POST comes from; one from another origin (another site, or this one over
    the other scheme) is refused before anything else (the SameSite cookie would not be sent anyway, but a
    sign-in form needs no cookie). ``own`` is the console's origin when the settings name it; else it is
    the one the request was sent to."""
    presented = request.headers.get("origin")
    if presented is None:
        return
    if own is None:
        own = origin.of_request(request.scope.get("scheme", "http"), request.headers.get("host", ""))
    if own is None or origin.from_header(presented) != own:
        raise CsrfRejected()
