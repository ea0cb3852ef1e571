"""The links this server hands out for files it serves under ``<public-url>/media/``, and telling them apart
from everything else (an urlFile on our own media host is read from the store, never fetched)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote, urlsplit

MEDIA_PREFIX: Final = "/media/"
#: ``/media/p/<media_id>/<name>``: a prepared file (a downloadUrl); any other ``/media/<id>/<name>`` is an upload
PREPARED_SEGMENT: Final = "p"


@dataclass(frozen=True)
class OwnFile:
    """What an own link points at: an upload (by upload id) or a prepared file (by media id)."""

    prepared: bool
    id: str


@dataclass(frozen=True)
class MediaLinks:
    #: the deployment's public URL, no trailing slash (every process of a deployment shares it)
    public_url: str

    def upload_url(self, upload_id: str, file_name: str) -> str:
        return f"{self.public_url}{MEDIA_PREFIX}{upload_id}/{quote(file_name)}"

    def prepared_url(self, media_id: str, file_name: str) -> str:
        """Where a prepared file is served (getOutgoing/IncomingStatuses' downloadUrl)."""
        return f"{self.public_url}{MEDIA_PREFIX}{PREPARED_SEGMENT}/{media_id}/{quote(file_name)}"

    def own_file(self, url: str) -> OwnFile | None:
        """The file behind ``url`` if it is a media link of this deployment, else None."""
        base = urlsplit(self.public_url)
        try:
            parts = urlsplit(url)
        except ValueError:  # an unbalanced IPv6 bracket, say: not a link this server made
            return None
        if (parts.scheme, parts.netloc.lower()) != (base.scheme, base.netloc.lower()):
            return None
        path = unquote(parts.path)
        prefix = base.path.rstrip("/") + MEDIA_PREFIX
        if not path.startswith(prefix):
            return None
        segments = path[len(prefix) :].split("/")
        if segments[0] == PREPARED_SEGMENT and len(segments) >= 3 and segments[1]:
            return OwnFile(prepared=True, id=segments[1])
        if segments[0] and segments[0] != PREPARED_SEGMENT:
            return OwnFile(prepared=False, id=segments[0])
        return None
