"""``/console``: the two sign-in forms (partner token; instance id and API token) and sign-out."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statusgate.api.console.web import COOKIE, PREFIX, Console, View
from statusgate.api.throttle import FailureThrottle
from statusgate.services import console_sessions


class SignInPages:
    def __init__(self, console: Console, failures: FailureThrottle) -> None:
        self.console = console
        #: shared with /partner/*: one count of wrong tokens per client
        self.throttle = failures

    def _home(self, view: View) -> str:
        session = view.signed_in
        if session.scope is console_sessions.Scope.PARTNER:
            return f"{PREFIX}/instances"
        return f"{PREFIX}/instances/{session.id_instance}"

    async def page(self, view: View) -> Response:
        if view.session is not None:
            return self.console.redirect(view, self._home(view))
        ended = view.request.query_params.get("ended") == "1"
        return self.console.render(view, "signin.html", ended=ended, error=None)

    async def _refused(self, view: View, client: str) -> Response:
        self.throttle.failed(client)
        return self.console.render(
            view, "signin.html", 401, ended=False, error="Those credentials are wrong."
        )

    async def sign_in(self, view: View) -> Response:
        client = _client(view)
        if self.throttle.blocked(client):
            return _too_many(self.console, view)
        partner_token = view.field("partner_token").strip()
        raw_id = view.field("id_instance").strip()
        signed = None
        home = f"{PREFIX}/instances"
        if partner_token:
            signed = await console_sessions.sign_in_partner(
                self.console.ctx, self.console.partner, partner_token
            )
        elif raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 19:
            signed = await console_sessions.sign_in_instance(
                self.console.ctx, int(raw_id), view.field("api_token").strip()
            )
            home = f"{PREFIX}/instances/{int(raw_id)}"
        if signed is None:
            return await self._refused(view, client)
        response = self.console.redirect(view, home)
        self.console.set_cookie(response, signed.cookie)
        return response

    async def sign_out(self, view: View) -> Response:
        await console_sessions.sign_out(self.console.ctx, view.request.cookies.get(COOKIE, ""))
        response = self.console.redirect(view, PREFIX)
        self.console.clear_cookie(response)
        return response

    def routes(self) -> list[BaseRoute]:
        page = self.console.page
        return [
            Route(PREFIX, page(self.page, signed_in=False), methods=["GET"]),
            Route(f"{PREFIX}/sign-in", page(self.sign_in, signed_in=False), methods=["POST"]),
            Route(f"{PREFIX}/sign-out", page(self.sign_out), methods=["POST"]),
        ]


def _client(view: View) -> str:
    return view.request.client.host if view.request.client else ""


def _too_many(console: Console, view: View) -> Response:
    return console.render(
        view, "signin.html", 429, ended=False, error="Too many wrong attempts: wait a minute and try again."
    )
