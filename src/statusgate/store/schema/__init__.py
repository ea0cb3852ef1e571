"""Every table, in one MetaData: the single source of the schema (Alembic migrations must match it).

The MetaData is declared in :mod:`~statusgate.store.schema.base`; the tables, by area, in the modules beside
it. Importing any part of this package imports them all, so :data:`metadata` always holds every table.
"""

from __future__ import annotations

from statusgate.store.schema import (  # noqa: F401 - each module adds its tables to the MetaData
    access,
    instances,
    media,
    notifications,
    sandbox,
    statuses,
)
from statusgate.store.schema.base import metadata

__all__ = ["metadata"]
