"""``statusgate engines …``: what an engine needs beside Python, installed on this machine (docs/cli.md)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from statusgate.cli_common import add_setting_flags, settings_from
from statusgate.cli_errors import CliError
from statusgate.engines.baileys import install as baileys_install

#: the engines with something to install; sandbox and whatsapp come whole with pip
INSTALLABLE = ("baileys",)


def cmd_install(args: argparse.Namespace) -> None:
    engines_dir = settings_from(args).effective_engines_dir
    if not args.force and baileys_install.state(engines_dir) is baileys_install.InstallState.READY:
        print(f"baileys: already installed in {baileys_install.install_path(engines_dir)}")
        return
    try:
        where = baileys_install.install(engines_dir)
    except baileys_install.InstallError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot install into {engines_dir}: {exc.strerror or exc}") from None
    print(f"baileys: installed in {where}")


def cmd_status(args: argparse.Namespace) -> None:
    engines_dir = settings_from(args).effective_engines_dir
    found = {
        "baileys": {
            "state": baileys_install.state(engines_dir).value,
            "path": str(baileys_install.install_path(engines_dir)),
        }
    }
    if args.json:
        sys.stdout.write(json.dumps(found) + "\n")
        return
    for name, about in found.items():
        print(f"{name}: {about['state']} ({about['path']})")


def add_commands(commands: Any) -> None:
    engines = commands.add_parser(
        "engines", help="install what an engine needs on this machine"
    ).add_subparsers(dest="engines_command", required=True, metavar="ACTION")
    helps = "install an engine's packages into engines_dir (npm ci from the pinned lockfile)"
    p: argparse.ArgumentParser = engines.add_parser("install", help=helps, description=helps)
    p.add_argument("engine", choices=INSTALLABLE)
    p.add_argument("--force", action="store_true", help="install again even if this release's is there")
    add_setting_flags(p, ["engines_dir"])
    p.set_defaults(handler=cmd_install)
    helps = "whether each engine's packages are installed here, and for this release"
    p = engines.add_parser("status", help=helps, description=helps)
    p.add_argument("--json", action="store_true")
    add_setting_flags(p, ["engines_dir"])
    p.set_defaults(handler=cmd_status)
