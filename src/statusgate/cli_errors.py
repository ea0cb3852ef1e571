"""The command line's failures: each is one line on stderr and exit code 1 (docs/cli.md).

What the storage raises is put into words by :mod:`statusgate.cli_storage`.
"""

from __future__ import annotations


class CliError(Exception):
    """A failure to report on one line, exit code 1."""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
