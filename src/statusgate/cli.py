"""The command line (a public interface: see docs/cli.md). The only module that reads argv.

Every command pays for this module's imports before it starts, so it imports only what building the parser
needs (argparse, the settings, the engine names). A command imports the rest itself: the storage, the
services and the server's web stack are imported by the commands that use them, and PyAV, Pillow, pyvips and
httpx only by the ones that fetch or convert media (``tests/unit/test_cli_imports.py`` holds them to it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any, NoReturn

from statusgate import cli_engines, cli_sandbox
from statusgate.cli_common import (
    command,
    core_for,
    instance_id_arg,
    print_json,
    run,
    settings_from,
)
from statusgate.cli_errors import CliError
from statusgate.domain.models import EngineName
from statusgate.errors import GatewayError
from statusgate.settings import Settings

if TYPE_CHECKING:
    from statusgate.services import instances
    from statusgate.services.context import ServiceContext

# --- serve / demo --------------------------------------------------------------------------------------------


async def _nothing(_ctx: ServiceContext) -> None:
    return None


def _serve(settings: Settings, before: Callable[[ServiceContext], Awaitable[None]] = _nothing) -> None:
    """Lock, listen, check and migrate the storage (and run ``before``), then serve.

    Each step that fails is one line, exit 1, before anything is printed: the database is opened here, not
    first in uvicorn's lifespan, which would report a failure as a traceback.
    """
    from statusgate import serving
    from statusgate.cli_storage import unwritable
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
        run(settings, before)
        core = core_for(settings)
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
    _serve(settings_from(args))


def cmd_demo(args: argparse.Namespace) -> None:
    from statusgate.services.demo import ensure_demo

    settings = settings_from(args).model_copy(update={"role": "all"})  # the demo is one process

    async def prepare(ctx: ServiceContext) -> None:
        demo = await ensure_demo(ctx)
        c = demo.credentials
        print(f"statusgate demo instance — idInstance {c.id_instance}", flush=True)
        print(f"  apiUrl / mediaUrl  {c.api_url}", flush=True)
        print(f"  apiTokenInstance   {c.api_token}", flush=True)
        print("Post a picture status to the demo contacts:", flush=True)
        print(demo.curl(), flush=True)
        if settings.console == "on":
            print(f"Console: {settings.effective_public_url}/console", flush=True)
            print(
                "  sign in with the partner token (`statusgate partner-token` prints it) or with the "
                "idInstance and apiTokenInstance above",
                flush=True,
            )

    _serve(settings, prepare)


# --- instances -----------------------------------------------------------------------------------------------


def cmd_instance_create(args: argparse.Namespace) -> None:
    from statusgate.services import instances

    settings = settings_from(args)
    engine = EngineName(args.engine)

    async def action(ctx: ServiceContext) -> instances.Credentials:
        return await instances.create(ctx, engine=engine, authorized=args.authorized, name=args.name)

    credentials = run(settings, action)
    if args.json:
        print_json(credentials.as_json())
    else:
        print(f"idInstance        {credentials.id_instance}")
        print(f"apiTokenInstance  {credentials.api_token}")
        print(f"apiUrl            {credentials.api_url}")
        print(f"mediaUrl          {credentials.media_url}")


def cmd_instance_list(args: argparse.Namespace) -> None:
    from statusgate.services import account, instances

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

    listed = run(settings_from(args), action)
    if args.json:
        print_json(listed)
    else:
        for item in listed:
            access = "on" if item["statusAccess"] else "off"
            print(
                f"{item['idInstance']}  {item['engine']:8}  {item['stateInstance']:14}  status-access {access}  "
                f"{item['name'] or ''}"
            )


def cmd_instance_delete(args: argparse.Namespace) -> None:
    from statusgate.services import instances

    run(settings_from(args), lambda ctx: instances.delete(ctx, args.id))


def cmd_instance_rotate(args: argparse.Namespace) -> None:
    from statusgate.services import instances

    credentials = run(settings_from(args), lambda ctx: instances.rotate_token(ctx, args.id))
    if args.json:
        print_json(credentials.as_json())
    else:
        print(f"apiTokenInstance  {credentials.api_token}")


def cmd_instance_set(args: argparse.Namespace) -> None:
    from statusgate.services import instances

    if args.status_access is None:
        raise CliError("nothing to set: give --status-access on|off")
    run(
        settings_from(args), lambda ctx: instances.set_status_access(ctx, args.id, args.status_access == "on")
    )


def cmd_partner_token(args: argparse.Namespace) -> None:
    from statusgate.services import partner

    settings = settings_from(args)
    if args.rotate and settings.partner_token:
        raise CliError("the partner token is fixed by STATUSGATE_PARTNER_TOKEN: change the setting instead")
    value = run(settings, partner.rotate if args.rotate else partner.token)
    if args.json:
        print_json({"partnerToken": value})
    else:
        print(value)


def cmd_settings_doc(args: argparse.Namespace) -> None:
    from statusgate.settings_doc import render

    sys.stdout.write(render())


def cmd_migrate(args: argparse.Namespace) -> None:
    from statusgate.cli_storage import database_file
    from statusgate.store import migrate

    settings = settings_from(args)
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

    command(commands, "serve", cmd_serve, "run the server (API, media host and senders)", all_settings=True)
    command(commands, "demo", cmd_demo, "serve with a ready sandbox instance named demo", all_settings=True)
    command(commands, "settings-doc", cmd_settings_doc, "print docs/settings.md")
    command(commands, "migrate", cmd_migrate, "upgrade the database to this release's schema, then exit")
    cli_engines.add_commands(commands)
    p = command(commands, "partner-token", cmd_partner_token, "print the Partner API token")
    p.add_argument("--rotate", action="store_true", help="replace it: the old one stops working")
    p.add_argument("--json", action="store_true")

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
    p.add_argument("id", type=instance_id_arg)
    p = command(instance, "rotate-token", cmd_instance_rotate, "give an instance a new API token")
    p.add_argument("id", type=instance_id_arg)
    p.add_argument("--json", action="store_true")
    p = command(instance, "set", cmd_instance_set, "change an instance")
    p.add_argument("id", type=instance_id_arg)
    p.add_argument("--status-access", choices=["on", "off"])

    cli_sandbox.add_commands(commands)
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
        return settings_from(args)
    except CliError:
        return None


def _failure(exc: Exception, args: argparse.Namespace) -> str | None:
    """The one line that reports ``exc``, or None for a bug (it keeps its traceback)."""
    if isinstance(exc, CliError):
        return str(exc)
    if isinstance(exc, GatewayError):
        return exc.message
    # imported only once a command has failed: every command would otherwise wait for the storage's modules
    from statusgate.cli_storage import storage_message
    from statusgate.engines.sandbox_records import SandboxError
    from statusgate.services.instances import UnknownInstanceError

    if isinstance(exc, UnknownInstanceError | SandboxError):
        return str(exc)
    # the data dir or the database failed (read-only, full, unreachable): one line, never a traceback
    return storage_message(exc, _settings_or_none(args))


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:
        message = _failure(exc, args)
        if message is None:
            raise
        _fail(message)
