"""What every ``statusgate`` command shares: the setting flags, the settings they make, a core to run an
action in, JSON output."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from pydantic import ValidationError as PydanticValidationError

from statusgate.cli_errors import CliError
from statusgate.settings import Settings

if TYPE_CHECKING:
    from statusgate.services.context import ServiceContext
    from statusgate.wiring.core import Core

T = TypeVar("T")
STORAGE_FIELDS = ("data_dir", "database_url", "public_url")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_setting_flags(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    for name in names:
        field = Settings.model_fields[name]
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": field.description}
        if field.annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        parser.add_argument(flag(name), **kwargs)


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name) for name in Settings.model_fields if hasattr(args, name)}
    try:
        return Settings(**overrides)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        raise CliError(f"invalid setting {first['loc'][0]}: {first['msg']}") from None


def core_for(settings: Settings) -> Core:
    # imported by the commands that open the storage only: the core is most of a command's start-up time
    import sqlalchemy as sa

    from statusgate.cli_errors import first_line
    from statusgate.cli_storage import database_file, shown_url
    from statusgate.wiring.core import Core

    database_file(settings)  # a URL SQLAlchemy cannot read is one line (that never repeats it: a password)
    try:
        return Core(settings)
    except (ModuleNotFoundError, sa.exc.ArgumentError) as exc:  # a driver that is not installed
        url = shown_url(settings.effective_database_url)
        raise CliError(f"cannot open the database {url}: {first_line(exc)}") from None


def run(settings: Settings, action: Callable[[ServiceContext], Awaitable[T]]) -> T:
    async def main() -> T:
        core = core_for(settings)
        try:
            await core.open()
            return await action(core.ctx)
        finally:
            await core.close()

    return asyncio.run(main())


def print_json(data: Any, out: TextIO = sys.stdout) -> None:
    out.write(json.dumps(data, ensure_ascii=False) + "\n")


def instance_id_arg(raw: str) -> int:
    if not raw.isdigit():
        raise argparse.ArgumentTypeError(f"not an instance id: {raw!r}")
    return int(raw)


def command(
    sub: Any,
    name: str,
    handler: Callable[[argparse.Namespace], None],
    help_: str,
    all_settings: bool = False,
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_, description=help_)
    add_setting_flags(p, list(Settings.model_fields) if all_settings else STORAGE_FIELDS)
    p.set_defaults(handler=handler)
    return p
