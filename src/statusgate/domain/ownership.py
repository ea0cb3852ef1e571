"""Who may act for an instance: the lease a worker holds on it, and the fence its writes carry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Lease:
    """An instance held by a worker, and the epoch its writes are checked against (one more at every change
    of hands)."""

    instance_id: int
    epoch: int


@dataclass(frozen=True)
class Fence:
    """What a write on behalf of an instance's owner carries: who writes, and the lease it believes it
    holds. A store (or a network that can) refuses the write unless that lease is still current."""

    owner: str
    lease: Lease
