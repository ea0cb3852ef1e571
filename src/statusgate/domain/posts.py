"""A status as its author asked for it: text, media or voice. Typed from the API's request models inward,
through the queue, to the engine; Green's field names appear only where it is read or rendered on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass

from statusgate.domain.models import MediaKind, PreparedMedia, StatusType
from statusgate.domain.ownership import Fence

#: the fonts of a text status (Green's names)
FONTS = ("SERIF", "SANS_SERIF", "NORICAN_REGULAR", "BRYNDAN_WRITE", "OSWALD_HEAVY")
#: what a text status looks like when its author chose nothing (the newest Green docs: black, sans serif)
DEFAULT_TEXT_BACKGROUND = "#000000"
DEFAULT_FONT = "SANS_SERIF"
#: a voice status's background when none was chosen (what WhatsApp shows behind the waveform)
DEFAULT_VOICE_BACKGROUND = "#FFFFFF"


@dataclass(frozen=True)
class TextPost:
    message: str
    #: None: the author chose none (the default is applied when sent or shown)
    background_color: str | None = None
    font: str | None = None
    #: None: the default audience; otherwise exactly these chat ids (duplicates removed, order kept)
    participants: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MediaPost:
    url_file: str
    file_name: str
    #: the kind the file name announces (the bytes must agree when it is prepared)
    kind: MediaKind
    caption: str | None = None
    participants: tuple[str, ...] | None = None


@dataclass(frozen=True)
class VoicePost:
    url_file: str
    file_name: str
    background_color: str | None = None
    participants: tuple[str, ...] | None = None


StatusPost = TextPost | MediaPost | VoicePost


@dataclass(frozen=True)
class OutgoingStatus:
    """What an engine is asked to post: the author's post and, for a file, the prepared media."""

    message_id: str
    post: StatusPost
    media: PreparedMedia | None = None
    #: the sending worker's lease on the instance, for a network that can check it (None: not checked)
    fence: Fence | None = None


def status_type(post: StatusPost) -> StatusType:
    """The Green method that queues such a post (showMessagesQueue's ``type``)."""
    if isinstance(post, TextPost):
        return StatusType.TEXT
    if isinstance(post, MediaPost):
        return StatusType.MEDIA
    return StatusType.VOICE


def media_kind(post: StatusPost) -> MediaKind | None:
    """What kind of file the post carries, None for text."""
    if isinstance(post, MediaPost):
        return post.kind
    if isinstance(post, VoicePost):
        return MediaKind.AUDIO
    return None


def source(post: StatusPost) -> tuple[str, str] | None:
    """``(urlFile, fileName)`` of a post that carries a file."""
    if isinstance(post, TextPost):
        return None
    return post.url_file, post.file_name
