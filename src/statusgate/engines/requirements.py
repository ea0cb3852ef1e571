"""What an engine needs beyond statusgate's own dependencies, and the one line that says how to get it.

Checked where an instance is made (CLI, console, Partner API), so that a server without an engine's extra
refuses the instance at once, saying what to install, rather than making one whose every send fails.
"""

from __future__ import annotations

import importlib.util

from statusgate.domain.models import EngineName


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules: known to be absent
        return False


def missing(engine: EngineName) -> str | None:
    """None when ``engine`` can run here, else what to install (one line)."""
    # neonize is imported by the whatsapp engine's child processes only: found, not imported, here
    if engine is EngineName.WHATSAPP and not _importable("neonize"):
        return "pip install 'statusgate[whatsapp]'"
    return None
