"""``statusgate sandbox …``: act as the simulated network's phones (docs/cli.md)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statusgate.cli_common import command, instance_id_arg, print_json, run, settings_from
from statusgate.cli_errors import CliError
from statusgate.domain.models import EngineName
from statusgate.engines.sandbox_records import FAULT_MODES, Arrivals, ImportedContact

if TYPE_CHECKING:
    from statusgate.services.context import ServiceContext


async def _sandbox_instance(ctx: ServiceContext, id_instance: int) -> None:
    from statusgate.services import instances

    instance = await instances.get(ctx, id_instance)
    if instance.engine is not EngineName.SANDBOX:
        raise CliError(f"instance {id_instance} uses the {instance.engine.value} engine, not the sandbox")


def _load_contacts(path: Path) -> list[ImportedContact]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    if not isinstance(raw, list):
        raise CliError(f"{path}: expected a JSON array of contacts")
    contacts = []
    for index, item in enumerate(raw):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("id"), str)
            or not item["id"].endswith("@c.us")
        ):
            raise CliError(f'{path}: entry {index} needs an "id" like 79990000001@c.us')
        contacts.append(
            ImportedContact(
                id=item["id"],
                name=str(item.get("name") or ""),
                contact_name=str(item.get("contactName") or ""),
                in_address_book=bool(item.get("inAddressBook", True)),
            )
        )
    return contacts


def cmd_sandbox_contacts_import(args: argparse.Namespace) -> None:
    contacts = _load_contacts(Path(args.file))

    async def action(ctx: ServiceContext) -> int:
        await _sandbox_instance(ctx, args.id)
        return await ctx.sandbox.import_contacts(args.id, contacts)

    count = run(settings_from(args), action)
    print(f"imported {count} contacts")


def _sandbox_action(args: argparse.Namespace, act: Callable[[ServiceContext], Awaitable[None]]) -> None:
    async def action(ctx: ServiceContext) -> None:
        await _sandbox_instance(ctx, args.id)
        await act(ctx)

    run(settings_from(args), action)


def cmd_sandbox_scan(args: argparse.Namespace) -> None:
    _sandbox_action(args, lambda ctx: ctx.sandbox.scan(args.id))


def cmd_sandbox_logout(args: argparse.Namespace) -> None:
    _sandbox_action(args, lambda ctx: ctx.sandbox.logout(args.id))


def cmd_sandbox_view(args: argparse.Namespace) -> None:
    _sandbox_action(args, lambda ctx: ctx.sandbox.view(args.id, args.id_message, args.participant))


def cmd_sandbox_fail(args: argparse.Namespace) -> None:
    if args.count < 1:
        raise CliError("--count must be at least 1")
    _sandbox_action(args, lambda ctx: ctx.sandbox.add_fault(args.id, args.mode, args.count))


def cmd_sandbox_deliveries(args: argparse.Namespace) -> None:
    async def action(ctx: ServiceContext) -> list[Arrivals]:
        await _sandbox_instance(ctx, args.id)
        return await ctx.sandbox.arrivals(args.id)

    rows = run(settings_from(args), action)
    if args.json:
        print_json(
            [
                {
                    "idMessage": r.message_id,
                    "participant": r.participant,
                    "deliveries": r.count,
                    "firstAt": r.first_at,
                }
                for r in rows
            ]
        )
        return
    for r in rows:
        print(f"{r.message_id} {r.participant} {r.count} {r.first_at:.6f}")


def cmd_sandbox_post(args: argparse.Namespace) -> None:
    from statusgate.services import sandbox

    if (args.text is None) == (args.media is None):
        raise CliError("give exactly one of --text or --media")
    media_path = Path(args.media) if args.media is not None else None
    if media_path is not None and not media_path.is_file():
        raise CliError(f"no such file: {media_path}")

    async def action(ctx: ServiceContext) -> str:
        await _sandbox_instance(ctx, args.id)
        if args.text is not None:
            return await sandbox.post_text(
                ctx, args.id, args.sender, args.text, args.background_color, args.font
            )
        assert media_path is not None
        return await sandbox.post_media(ctx, args.id, args.sender, media_path, args.caption)

    print(run(settings_from(args), action))


def add_commands(commands: Any) -> None:
    sandbox = commands.add_parser("sandbox", help="act as the simulated network's phones").add_subparsers(
        dest="sandbox_command", required=True, metavar="ACTION"
    )
    contacts = sandbox.add_parser("contacts", help="the address book").add_subparsers(
        dest="contacts_command", required=True, metavar="ACTION"
    )
    p = command(contacts, "import", cmd_sandbox_contacts_import, "replace the address book from a JSON file")
    p.add_argument("id", type=instance_id_arg)
    p.add_argument("file")
    p = command(sandbox, "scan", cmd_sandbox_scan, "scan the QR code: the instance becomes authorized")
    p.add_argument("id", type=instance_id_arg)
    p = command(sandbox, "logout", cmd_sandbox_logout, "unlink the phone: notAuthorized")
    p.add_argument("id", type=instance_id_arg)
    p = command(sandbox, "view", cmd_sandbox_view, "a contact views a status (read receipt)")
    p.add_argument("id", type=instance_id_arg)
    p.add_argument("id_message", metavar="IDMESSAGE")
    p.add_argument("--participant", required=True, metavar="CHATID")
    p = command(sandbox, "post", cmd_sandbox_post, "a contact posts a status (an incoming status)")
    p.add_argument("id", type=instance_id_arg)
    p.add_argument("--from", dest="sender", required=True, metavar="CHATID")
    p.add_argument("--text")
    p.add_argument("--background-color", default="#000000")
    p.add_argument("--font", default="SANS_SERIF")
    p.add_argument("--media", metavar="FILE")
    p.add_argument("--caption")
    p = command(sandbox, "fail", cmd_sandbox_fail, "make the next send attempts fail")
    p.add_argument("id", type=instance_id_arg)
    p.add_argument("--mode", choices=FAULT_MODES, required=True)
    p.add_argument("--count", type=int, default=1)
    p = command(
        sandbox,
        "deliveries",
        cmd_sandbox_deliveries,
        "how often the network received each status, by recipient",
    )
    p.add_argument("id", type=instance_id_arg)
    p.add_argument("--json", action="store_true")
