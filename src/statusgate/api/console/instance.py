"""One instance's page: its state live, linking (QR, pairing code, simulated scan), logout and reboot,
settings, the queue."""

from __future__ import annotations

import re

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from statusgate.api.console.settings_form import SHOWN_SWITCHES, settings_change, wire_fields
from statusgate.api.console.web import PREFIX, Console, View, safe_base64
from statusgate.domain.instance_settings import DELAY_KEY, WEBHOOK_URL_KEY, WEBHOOK_URL_TOKEN_KEY
from statusgate.domain.models import EngineName, Instance
from statusgate.domain.states import InstanceState
from statusgate.errors import EngineError, ValidationError
from statusgate.services import account, sandbox, statuses
from statusgate.services.console_sessions import Scope

_PHONE = re.compile(r"[0-9]{5,17}")


class InstancePage:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.ctx = console.ctx

    async def show(
        self, view: View, instance: Instance, *, new_token: str | None = None, created: bool = False
    ) -> Response:
        """The page; ``new_token`` (just made or replaced) is shown this once and never again."""
        settings = await account.get_settings(self.ctx, instance)
        can = account.abilities(self.ctx, instance)
        return self.console.render(
            view,
            "instance.html",
            instance=instance,
            live=await self._live(instance),
            new_token=new_token,
            created=created,
            settings=settings,
            switches=[(s.value, settings[s.value] == "yes") for s in SHOWN_SWITCHES],
            keys={"url": WEBHOOK_URL_KEY, "token": WEBHOOK_URL_TOKEN_KEY, "delay": DELAY_KEY},
            queue=await statuses.show_queue(self.ctx, instance),
            queued=await statuses.queue_count(self.ctx, instance),
            pairing=can.pairing_code,
            sandbox=instance.engine is EngineName.SANDBOX,
            audience=can.explicit_audience,
            partner=view.signed_in.scope is Scope.PARTNER,
            pairing_code=None,
        )

    async def _live(self, instance: Instance) -> dict[str, object]:
        """The part of the page that refreshes itself: the state and, while not linked, the QR code."""
        state = await account.state(self.ctx, instance)
        qr: str | None = None
        note = ""
        if state is InstanceState.NOT_AUTHORIZED:
            try:
                answer = await account.qr(self.ctx, instance)
            except EngineError as exc:
                note = exc.message
            else:
                if answer.type == "qrCode" and safe_base64(answer.message):
                    qr = answer.message
                elif answer.type == "error":
                    note = answer.message
        return {"state": state.value, "qr": qr, "note": note, "id": instance.id_instance}

    async def page(self, view: View) -> Response:
        instance = await self.console.instance(view, view.request.path_params["id"])
        return await self.show(view, instance)

    async def live(self, view: View) -> Response:
        instance = await self.console.instance(view, view.request.path_params["id"])
        return self.console.render(view, "_live.html", live=await self._live(instance))

    async def scan(self, view: View) -> Response:
        instance = await self.console.instance(view, view.request.path_params["id"])
        await sandbox.simulate_scan(self.ctx, instance)
        return self.console.redirect(view, f"{PREFIX}/instances/{instance.id_instance}")

    async def logout(self, view: View) -> Response:
        instance = await self.console.instance(view, view.request.path_params["id"])
        await account.logout(self.ctx, instance)
        return self.console.redirect(view, f"{PREFIX}/instances/{instance.id_instance}")

    async def reboot(self, view: View) -> Response:
        instance = await self.console.instance(view, view.request.path_params["id"])
        await account.reboot(self.ctx, instance)
        return self.console.redirect(view, f"{PREFIX}/instances/{instance.id_instance}")

    async def pairing_code(self, view: View) -> Response:
        instance = await self.console.instance(view, view.request.path_params["id"])
        phone = view.field("phone").strip().lstrip("+")
        if not _PHONE.fullmatch(phone):
            raise ValidationError("'phoneNumber' must be the number in international form, digits only")
        code = await account.authorization_code(self.ctx, instance, int(phone))
        return self.console.render(view, "pairing_code.html", instance=instance, code=code)

    async def save_settings(self, view: View) -> Response:
        instance = await self.console.instance(view, view.request.path_params["id"])
        fields = wire_fields(view.form, with_switches=True)
        change = settings_change(self.console.schemas.set_settings, fields)
        await account.set_settings(self.ctx, instance, change)
        self.console.instance_auth.forget(instance.id_instance)
        return self.console.redirect(view, f"{PREFIX}/instances/{instance.id_instance}")

    async def clear_queue(self, view: View) -> Response:
        instance = await self.console.instance(view, view.request.path_params["id"])
        await statuses.clear_queue(self.ctx, instance)
        return self.console.redirect(view, f"{PREFIX}/instances/{instance.id_instance}")

    def routes(self) -> list[BaseRoute]:
        page = self.console.page
        base = f"{PREFIX}/instances/{{id}}"
        return [
            Route(base, page(self.page), methods=["GET"]),
            Route(f"{base}/live", page(self.live), methods=["GET"]),
            Route(f"{base}/scan", page(self.scan), methods=["POST"]),
            Route(f"{base}/logout", page(self.logout), methods=["POST"]),
            Route(f"{base}/reboot", page(self.reboot), methods=["POST"]),
            Route(f"{base}/pairing-code", page(self.pairing_code), methods=["POST"]),
            Route(f"{base}/settings", page(self.save_settings), methods=["POST"]),
            Route(f"{base}/queue/clear", page(self.clear_queue), methods=["POST"]),
        ]
