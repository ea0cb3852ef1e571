"""The command line (a public interface: see docs/cli.md). The only module that reads argv."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

import sqlalchemy as sa
from pydantic import ValidationError as PydanticValidationError

from statusgate import cli_engines, serving
from statusgate.cli_errors import CliError, database_file, first_line, shown_url, storage_message, unwritable
from statusgate.domain.models import EngineName
from statusgate.engines.sandbox_network import FAULT_MODES, Arrivals, ImportedContact, SandboxError
from statusgate.errors import GatewayError
from statusgate.services import instances
from statusgate.services.context import ServiceContext
from statusgate.services.instances import UnknownInstanceError
from statusgate.settings import Settings
from statusgate.wiring.core import Core

T = TypeVar("T")
STORAGE_FIELDS = ("data_dir", "database_url", "public_url")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_setting_flags(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    for name in names:
        field = Settings.model_fields[name]
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": field.description}
        if field.annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        parser.add_argument(_flag(name), **kwargs)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name) for name in Settings.model_fields if hasattr(args, name)}
    try:
        return Settings(**overrides)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        raise CliError(f"invalid setting {first['loc'][0]}: {first['msg']}") from None


def _core(settings: Settings) -> Core:
    database_file(settings)  # a URL SQLAlchemy cannot read is one line (that never repeats it: a password)
    try:
        return Core(settings)
    except (ModuleNotFoundError, sa.exc.ArgumentError) as exc:  # a driver that is not installed
        url = shown_url(settings.effective_database_url)
        raise CliError(f"cannot open the database {url}: {first_line(exc)}") from None


def _run(settings: Settings, action: Callable[[ServiceContext], Awaitable[T]]) -> T:
    async def main() -> T:
        core = _core(settings)
        try:
            await core.open()
            return await action(core.ctx)
        finally:
            await core.close()

    return asyncio.run(main())


def _print_json(data: Any, out: TextIO = sys.stdout) -> None:
    out.write(json.dumps(data, ensure_ascii=False) + "\n")


def _instance_id(raw: str) -> int:
    if not raw.isdigit():
        raise argparse.ArgumentTypeError(f"not an instance id: {raw!r}")
    return int(raw)


# --- serve / demo --------------------------------------------------------------------------------------------


async def _nothing(_ctx: ServiceContext) -> None:
    return None


def _serve(settings: Settings, before: Callable[[ServiceContext], Awaitable[None]] = _nothing) -> None:
    """Lock, listen, check and migrate the storage (and run ``before``), then serve.

    Each step that fails is one line, exit 1, before anything is printed: the database is opened here, not
    first in uvicorn's lifespan, which would report a failure as a traceback.
    """
    from statusgate.logs import log_config
    from statusgate.wiring.server import server_app

    serving.hold_server_lock(settings)  # makes the database's directory
    worker_only = settings.role == "worker"
    sockets = serving.listen(settings.host, settings.worker_port if worker_only else settings.port)
    try:
        if settings.port == 0 and not worker_only:  # the links handed out name the port actually bound
            settings = settings.model_copy(update={"port": serving.bound_port(sockets)})
        refused = unwritable(settings)  # the server writes at once: refuse storage it cannot write
        if refused is not None:
            raise CliError(refused)
        _run(settings, before)
        core = _core(settings)
        stopping = core.ctx.stopping
        serving.run(
            server_app(core, settings.role),
            settings,
            sockets,
            log_config(settings.log_level, settings.log_format),
            on_exit=stopping.set,
        )
    finally:
        for sock in sockets:
            sock.close()


def cmd_serve(args: argparse.Namespace) -> None:
    _serve(_settings(args))


def cmd_demo(args: argparse.Namespace) -> None:
    from statusgate.services.demo import ensure_demo

    settings = _settings(args).model_copy(update={"role": "all"})  # the demo is one process

    async def prepare(ctx: ServiceContext) -> None:
        demo = await ensure_demo(ctx)
        c = demo.credentials
        print(f"statusgate demo instance — idInstance {c.id_instance}", flush=True)
        print(f"  apiUrl / mediaUrl  {c.api_url}", flush=True)
        print(f"  apiTokenInstance   {c.api_token}", flush=True)
        print("Post a picture status to the demo contacts:", flush=True)
        print(demo.curl(), flush=True)

    _serve(settings, prepare)


# --- instances -----------------------------------------------------------------------------------------------


def cmd_instance_create(args: argparse.Namespace) -> None:
    settings = _settings(args)
    engine = EngineName(args.engine)

    async def action(ctx: ServiceContext) -> instances.Credentials:
        return await instances.create(ctx, engine=engine, authorized=args.authorized, name=args.name)

    credentials = _run(settings, action)
    if args.json:
        _print_json(credentials.as_json())
    else:
        print(f"idInstance        {credentials.id_instance}")
        print(f"apiTokenInstance  {credentials.api_token}")
        print(f"apiUrl            {credentials.api_url}")
        print(f"mediaUrl          {credentials.media_url}")


def cmd_instance_list(args: argparse.Namespace) -> None:
    from statusgate.services import account

    async def action(ctx: ServiceContext) -> list[dict[str, Any]]:
        listed = []
        for instance in await instances.list_all(ctx):
            listed.append(
                {
                    "idInstance": instance.id_instance,
                    "name": instance.name,
                    "engine": instance.engine.value,
                    "stateInstance": (await account.state(ctx, instance)).value,
                    "statusAccess": instance.status_access,
                }
            )
        return listed

    listed = _run(_settings(args), action)
    if args.json:
        _print_json(listed)
    else:
        for item in listed:
            access = "on" if item["statusAccess"] else "off"
            print(
                f"{item['idInstance']}  {item['engine']:8}  {item['stateInstance']:14}  status-access {access}  "
                f"{item['name'] or ''}"
            )


def cmd_instance_delete(args: argparse.Namespace) -> None:
    _run(_settings(args), lambda ctx: instances.delete(ctx, args.id))


def cmd_instance_rotate(args: argparse.Namespace) -> None:
    credentials = _run(_settings(args), lambda ctx: instances.rotate_token(ctx, args.id))
    if args.json:
        _print_json(credentials.as_json())
    else:
        print(f"apiTokenInstance  {credentials.api_token}")


def cmd_instance_set(args: argparse.Namespace) -> None:
    if args.status_access is None:
        raise CliError("nothing to set: give --status-access on|off")
    _run(_settings(args), lambda ctx: instances.set_status_access(ctx, args.id, args.status_access == "on"))


# --- sandbox -------------------------------------------------------------------------------------------------


async def _sandbox_instance(ctx: ServiceContext, id_instance: int) -> None:
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

    count = _run(_settings(args), action)
    print(f"imported {count} contacts")


def _sandbox_action(args: argparse.Namespace, act: Callable[[ServiceContext], Awaitable[None]]) -> None:
    async def action(ctx: ServiceContext) -> None:
        await _sandbox_instance(ctx, args.id)
        await act(ctx)

    _run(_settings(args), action)


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

    rows = _run(_settings(args), action)
    if args.json:
        _print_json(
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

    print(_run(_settings(args), action))


def cmd_settings_doc(args: argparse.Namespace) -> None:
    from statusgate.settings_doc import render

    sys.stdout.write(render())


def cmd_migrate(args: argparse.Namespace) -> None:
    from statusgate.store import migrate

    settings = _settings(args)
    database = database_file(settings)  # a URL SQLAlchemy cannot read is one line
    if database is not None:  # SQLite: the file's directory is made, as serve makes it
        database.parent.mkdir(parents=True, exist_ok=True)
    print(migrate.upgrade_database(settings.effective_database_url))


# --- parser --------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="statusgate", description="WhatsApp status gateway (Green API wire)"
    )
    parser.add_argument("--version", action="version", version=f"statusgate {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        sub: Any,
        name: str,
        handler: Callable[[argparse.Namespace], None],
        help_: str,
        all_settings: bool = False,
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_, description=help_)
        _add_setting_flags(p, list(Settings.model_fields) if all_settings else STORAGE_FIELDS)
        p.set_defaults(handler=handler)
        return p

    command(commands, "serve", cmd_serve, "run the server (API, media host and senders)", all_settings=True)
    command(commands, "demo", cmd_demo, "serve with a ready sandbox instance named demo", all_settings=True)
    command(commands, "settings-doc", cmd_settings_doc, "print docs/settings.md")
    command(commands, "migrate", cmd_migrate, "upgrade the database to this release's schema, then exit")
    cli_engines.add_commands(commands, _settings, lambda p: _add_setting_flags(p, ["engines_dir"]))

    instance = commands.add_parser("instance", help="manage instances").add_subparsers(
        dest="instance_command", required=True, metavar="ACTION"
    )
    p = command(instance, "create", cmd_instance_create, "create an instance and print its credentials")
    p.add_argument("--engine", choices=[e.value for e in EngineName], default=EngineName.SANDBOX.value)
    p.add_argument("--authorized", action="store_true", help="sandbox only: start already linked")
    p.add_argument("--name")
    p.add_argument("--json", action="store_true")
    p = command(instance, "list", cmd_instance_list, "list instances")
    p.add_argument("--json", action="store_true")
    p = command(
        instance, "delete", cmd_instance_delete, "delete an instance with its queue, journals and media"
    )
    p.add_argument("id", type=_instance_id)
    p = command(instance, "rotate-token", cmd_instance_rotate, "give an instance a new API token")
    p.add_argument("id", type=_instance_id)
    p.add_argument("--json", action="store_true")
    p = command(instance, "set", cmd_instance_set, "change an instance")
    p.add_argument("id", type=_instance_id)
    p.add_argument("--status-access", choices=["on", "off"])

    sandbox = commands.add_parser("sandbox", help="act as the simulated network's phones").add_subparsers(
        dest="sandbox_command", required=True, metavar="ACTION"
    )
    contacts = sandbox.add_parser("contacts", help="the address book").add_subparsers(
        dest="contacts_command", required=True, metavar="ACTION"
    )
    p = command(contacts, "import", cmd_sandbox_contacts_import, "replace the address book from a JSON file")
    p.add_argument("id", type=_instance_id)
    p.add_argument("file")
    p = command(sandbox, "scan", cmd_sandbox_scan, "scan the QR code: the instance becomes authorized")
    p.add_argument("id", type=_instance_id)
    p = command(sandbox, "logout", cmd_sandbox_logout, "unlink the phone: notAuthorized")
    p.add_argument("id", type=_instance_id)
    p = command(sandbox, "view", cmd_sandbox_view, "a contact views a status (read receipt)")
    p.add_argument("id", type=_instance_id)
    p.add_argument("id_message", metavar="IDMESSAGE")
    p.add_argument("--participant", required=True, metavar="CHATID")
    p = command(sandbox, "post", cmd_sandbox_post, "a contact posts a status (an incoming status)")
    p.add_argument("id", type=_instance_id)
    p.add_argument("--from", dest="sender", required=True, metavar="CHATID")
    p.add_argument("--text")
    p.add_argument("--background-color", default="#000000")
    p.add_argument("--font", default="SANS_SERIF")
    p.add_argument("--media", metavar="FILE")
    p.add_argument("--caption")
    p = command(sandbox, "fail", cmd_sandbox_fail, "make the next send attempts fail")
    p.add_argument("id", type=_instance_id)
    p.add_argument("--mode", choices=FAULT_MODES, required=True)
    p.add_argument("--count", type=int, default=1)
    p = command(
        sandbox,
        "deliveries",
        cmd_sandbox_deliveries,
        "how often the network received each status, by recipient",
    )
    p.add_argument("id", type=_instance_id)
    p.add_argument("--json", action="store_true")
    return parser


def _version() -> str:
    try:
        return metadata.version("statusgate")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"statusgate: {message}\n")
    raise SystemExit(1)


def _settings_or_none(args: argparse.Namespace) -> Settings | None:
    try:
        return _settings(args)
    except CliError:
        return None


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except CliError as exc:
        _fail(str(exc))
    except UnknownInstanceError as exc:
        _fail(str(exc))
    except SandboxError as exc:
        _fail(str(exc))
    except GatewayError as exc:
        _fail(exc.message)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:
        # the data dir or the database failed (read-only, full, unreachable): one line, never a traceback
        message = storage_message(exc, _settings_or_none(args))
        if message is None:
            raise
        _fail(message)
