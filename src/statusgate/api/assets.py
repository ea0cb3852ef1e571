"""Files shipped in the package and served as they are (Swagger UI's, the console's): a fixed list, so
nothing else in their folder is reachable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from statusgate.errors import NotFoundError


def asset_endpoint(
    folder: Path, assets: Mapping[str, str], headers: Mapping[str, str]
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint serving ``folder/{asset}`` for the names in ``assets`` (name → media type), else 404."""

    async def asset(request: Request) -> Response:
        name = request.path_params["asset"]
        media_type = assets.get(name)
        if media_type is None:
            raise NotFoundError()
        return FileResponse(folder / name, media_type=media_type, headers=dict(headers))

    return asset
