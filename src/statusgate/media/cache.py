"""What a source file became, so the same file is converted only once (implemented over the database)."""

from __future__ import annotations

from typing import Protocol

from statusgate.domain.models import PreparedMedia


class SourceCache(Protocol):
    async def get(self, source_key: str) -> PreparedMedia | None:
        """The prepared media for this source, if it was prepared before and is still stored."""

    async def put(self, source_key: str, media: PreparedMedia) -> None:
        """Remember (durably) that this source became ``media``."""
