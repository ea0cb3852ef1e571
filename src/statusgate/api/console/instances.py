"""The instance list (partner sessions), creating, rotating a token, deleting."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statusgate.api.console.instance import InstancePage
from statusgate.api.console.settings_form import settings_change, wire_fields
from statusgate.api.console.web import PREFIX, Console, View
from statusgate.domain.instance_settings import DELAY_KEY
from statusgate.domain.models import EngineName, Instance
from statusgate.domain.states import InstanceState
from statusgate.errors import ValidationError
from statusgate.services import account, console_sessions, instances, partner, statuses
from statusgate.services.console_sessions import Scope

#: instances per page of the list
PAGE_SIZE = 25


@dataclass(frozen=True)
class Row:
    instance: Instance
    state: InstanceState
    queued: int


class InstancePages:
    def __init__(self, console: Console, instance_page: InstancePage) -> None:
        self.console = console
        self.ctx = console.ctx
        self.instance_page = instance_page

    def _require_partner(self, view: View) -> None:
        if view.signed_in.scope is not Scope.PARTNER:
            raise _Forbidden()

    async def listing(self, view: View) -> Response:
        if view.signed_in.scope is not Scope.PARTNER:
            return self.console.redirect(view, f"{PREFIX}/instances/{view.signed_in.id_instance}")
        query = view.request.query_params.get("q", "").strip()
        page = _page_number(view.request.query_params.get("page", "1"))
        found = await instances.list_all(self.ctx)
        if query:
            folded = query.casefold()
            found = [i for i in found if folded in str(i.id_instance) or folded in (i.name or "").casefold()]
        pages = max(1, -(-len(found) // PAGE_SIZE))
        page = min(page, pages)
        rows = [
            Row(i, await account.state(self.ctx, i), await statuses.queue_count(self.ctx, i))
            for i in found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        ]
        return self.console.render(
            view,
            "instances.html",
            rows=rows,
            query=query,
            page=page,
            pages=pages,
            total=len(found),
            engines=self._engines(),
            default_engine=self.ctx.settings.partner_default_engine,
            default_delay=self.ctx.settings.delay_default_ms,
        )

    def _engines(self) -> list[str]:
        return [e.value for e in EngineName if e in self.ctx.engines]

    async def create(self, view: View) -> Response:
        self._require_partner(view)
        try:
            engine = EngineName(view.field("engine") or self.ctx.settings.partner_default_engine)
        except ValueError:
            raise ValidationError(f"'engine' must be one of [{', '.join(self._engines())}]") from None
        name = view.field("name").strip() or None
        delay = view.field("delay").strip()
        fields = wire_fields({DELAY_KEY: delay} if delay else {}, with_switches=False)
        change = settings_change(self.console.schemas.set_settings, fields)
        credentials = await partner.create(self.ctx, engine, name, change)
        instance = await instances.get(self.ctx, credentials.id_instance)
        # the page itself rather than a redirect to it: the token is in this answer and nowhere else
        return await self.instance_page.show(view, instance, new_token=credentials.api_token, created=True)

    async def rotate_token(self, view: View) -> Response:
        instance = await self.console.instance(view, view.request.path_params["id"])
        credentials = await instances.rotate_token(self.ctx, instance.id_instance)
        self.console.instance_auth.forget(instance.id_instance)
        cookie = None
        if view.signed_in.scope is Scope.INSTANCE:
            # the sessions of the old token ended with it, this one too: the browser that rotated it stays in
            signed = await console_sessions.sign_in_instance(
                self.ctx, instance.id_instance, credentials.api_token
            )
            if signed is not None:
                cookie = signed.cookie
                view = View(view.request, signed.session, view.form)
        response = await self.instance_page.show(view, instance, new_token=credentials.api_token)
        if cookie is not None:
            self.console.set_cookie(response, cookie)
        return response

    async def delete(self, view: View) -> Response:
        self._require_partner(view)
        instance = await self.console.instance(view, view.request.path_params["id"])
        await partner.delete(self.ctx, instance.id_instance)
        self.console.instance_auth.forget(instance.id_instance)
        return self.console.redirect(view, f"{PREFIX}/instances")

    def routes(self) -> list[BaseRoute]:
        page = self.console.page
        return [
            Route(f"{PREFIX}/instances", page(self.listing), methods=["GET"]),
            Route(f"{PREFIX}/instances", page(self.create), methods=["POST"]),
            Route(f"{PREFIX}/instances/{{id}}/rotate-token", page(self.rotate_token), methods=["POST"]),
            Route(f"{PREFIX}/instances/{{id}}/delete", page(self.delete), methods=["POST"]),
        ]


class _Forbidden(ValidationError):
    http_status = 403

    def __init__(self) -> None:
        super().__init__("Only a partner sign-in may do that.")


def _page_number(raw: str) -> int:
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 else 1
