"""What a downloaded file really is, decided from its bytes (the fileName and Content-Type are only claims).

Images are decoded with Pillow, audio and video with PyAV (FFmpeg). Both are limited to an allow-list of
formats: a random download must not reach the rarely used decoders, and FFmpeg must never follow a playlist's
references to other files or URLs. An image too big to decode whole within the memory budget only has its
header and chunks checked here; its conversion decodes it streaming and finds any damage then.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import av
import av.stream
from PIL import Image, UnidentifiedImageError

from statusgate.domain.models import MediaKind
from statusgate.errors import MediaError
from statusgate.media.image_decode import load_bytes
from statusgate.media.kinds import mime_for_extension

# Pillow only warns between MAX_IMAGE_PIXELS and twice that; a warning is neither a refusal nor silent, so
# make it an exception like the one Pillow raises above twice the limit.
warnings.simplefilter("error", Image.DecompressionBombWarning)


def _register_optional_heif() -> None:
    # HEIC/HEIF (iPhone photos) decode only with the pillow-heif plugin; without it they are refused as
    # not-an-image rather than failing the import of this module.
    try:
        plugin = importlib.import_module("pillow_heif")
    except ImportError:
        return
    plugin.register_heif_opener()


_register_optional_heif()

# Pillow format name → extension. MPO is what Pillow calls a camera JPEG with extra frames: still a JPEG.
_IMAGE_FORMATS: dict[str, str] = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "HEIF": "heic",
    "AVIF": "avif",
    "BMP": "bmp",
    "TIFF": "tiff",
}

# FFmpeg demuxers for the extensions sendMediaStatus and sendVoiceStatus accept. Image and playlist demuxers
# (hls, concat …) are deliberately absent: the latter open further files or URLs named inside the file.
_AV_FORMAT_WHITELIST = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mp3,ogg,wav,aac"
AV_OPTIONS = {"format_whitelist": _AV_FORMAT_WHITELIST, "protocol_whitelist": "file"}
_WEBM_CODECS = frozenset({"vp8", "vp9", "av1", "opus", "vorbis"})

_NOUN = {MediaKind.IMAGE: "an image", MediaKind.VIDEO: "a video", MediaKind.AUDIO: "audio"}
_SNIFF_BYTES = 1024

#: The default of the ``image_decode_max_bytes`` setting.
DECODE_MAX_BYTES = 192 * 1024 * 1024


@dataclass(frozen=True)
class ProbeResult:
    kind: MediaKind
    mime_type: str
    extension: str


def probe_file(path: Path, expected: MediaKind, *, decode_max_bytes: int = DECODE_MAX_BYTES) -> ProbeResult:
    """Check that ``path`` holds decodable media of the ``expected`` kind; blocking, run it in a thread.

    An image is decoded whole to find damage only if that takes at most ``decode_max_bytes``.

    Raises :class:`MediaError` with a text meant for the API user when it does not.
    """
    with path.open("rb") as file:
        head = file.read(_SNIFF_BYTES)
    if not head:
        raise MediaError("urlFile returned an empty file")
    if _looks_like_html(head):
        what = "an audio file" if expected is MediaKind.AUDIO else _NOUN[expected]
        raise MediaError(f"urlFile returned an HTML page, not {what} — is it a download link behind a login?")
    image = _probe_image(path, expected, decode_max_bytes)
    if image is not None:
        return image
    return _probe_av(path, expected)


def _looks_like_html(head: bytes) -> bool:
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return text.startswith((b"<!doctype html", b"<html")) or (text.startswith(b"<") and b"<html" in text)


def _mismatch(expected: MediaKind, found: MediaKind) -> MediaError:
    return MediaError(f"fileName says {expected.value} but urlFile returned {_NOUN[found]}")


def _damaged(kind: MediaKind) -> MediaError:
    return MediaError(f"urlFile returned a damaged or truncated {kind.value} file")


def _not_media(expected: MediaKind) -> MediaError:
    return MediaError(f"urlFile did not return {expected.value} data")


def open_image(path: Path) -> Image.Image:
    Image.init()
    formats = [name for name in _IMAGE_FORMATS if name in Image.OPEN]
    return Image.open(path, formats=formats)


def _too_many_pixels() -> MediaError:
    return MediaError(f"urlFile image is too large (more than {Image.MAX_IMAGE_PIXELS} pixels)")


def _probe_image(path: Path, expected: MediaKind, decode_max_bytes: int) -> ProbeResult | None:
    """The result if the bytes are an image, None if Pillow does not recognise them."""
    try:
        with open_image(path) as image:
            image_format = image.format or ""
            width, height = image.size
            limit = Image.MAX_IMAGE_PIXELS
            # Pillow's own check may have been reduced to a printed warning by a caller's warning filters.
            if limit is not None and width * height > limit:
                raise _too_many_pixels()
            kind = _image_kind(image_format, expected)
            image.verify()
        # verify() leaves the image unusable, and only load() decodes the pixel data (truncation shows there).
        with open_image(path) as image:
            # A JPEG decodes every coefficient even at 1/8 scale, so damage still shows, in 1/64 the memory.
            image.draft(None, (1, 1))
            if load_bytes(image, (width, height)) <= decode_max_bytes:
                image.load()
    except UnidentifiedImageError:
        return None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (MediaError, MemoryError):
        # Running out of memory says nothing about the file: not a "damaged" verdict.
        raise
    except Exception:
        # Pillow reports corrupt data as OSError, SyntaxError, ValueError, struct.error … by codec.
        raise _damaged(MediaKind.IMAGE) from None
    extension = _IMAGE_FORMATS.get(image_format, image_format.lower())
    return ProbeResult(kind=kind, mime_type=mime_for_extension(extension), extension=extension)


def _image_kind(image_format: str, expected: MediaKind) -> MediaKind:
    if image_format == "GIF" and expected is not MediaKind.AUDIO:
        # A GIF is both: a picture, and what WhatsApp shows as a looping video.
        return expected
    if expected is not MediaKind.IMAGE:
        raise _mismatch(expected, MediaKind.IMAGE)
    return MediaKind.IMAGE


def _probe_av(path: Path, expected: MediaKind) -> ProbeResult:
    try:
        container = av.open(str(path), container_options=AV_OPTIONS)
    except av.FFmpegError:
        raise _not_media(expected) from None
    with container:
        # A cover picture (MP3/M4A album art) is a video stream FFmpeg marks attached_pic; it is not a video.
        videos = [
            s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
        ]
        audios = list(container.streams.audio)
        stream: av.stream.Stream
        if videos:
            kind, stream = MediaKind.VIDEO, videos[0]
        elif audios:
            kind, stream = MediaKind.AUDIO, audios[0]
        else:
            raise _not_media(expected)
        if kind is not expected:
            raise _mismatch(expected, kind)
        try:
            frame = next(container.decode(stream), None)
        except av.FFmpegError:
            raise _damaged(kind) from None
        if frame is None:
            raise _damaged(kind)
        codecs = {s.codec.canonical_name for s in [*container.streams.video, *audios]}
        extension = _av_extension(
            container.format.name, container.metadata.get("major_brand", ""), kind, codecs
        )
    return ProbeResult(kind=kind, mime_type=_av_mime(extension, kind), extension=extension)


def _av_extension(demuxer: str, major_brand: str, kind: MediaKind, codecs: set[str]) -> str:
    brand = major_brand.strip().lower()
    if demuxer.startswith("mov,"):
        if brand.startswith("3g"):
            return "3gp"
        if kind is MediaKind.AUDIO:
            return "m4a"
        return {"qt": "mov", "m4v": "m4v"}.get(brand, "mp4")
    if demuxer.startswith("matroska"):
        return "webm" if codecs <= _WEBM_CODECS else "mkv"
    if demuxer == "ogg":
        if kind is MediaKind.VIDEO:
            return "ogv"
        return "opus" if "opus" in codecs else "ogg"
    return demuxer  # avi, mp3, wav, aac: the demuxer is named like the extension


def _av_mime(extension: str, kind: MediaKind) -> str:
    if kind is MediaKind.AUDIO:
        # Containers that usually carry video, here holding only sound.
        audio_only = {
            "webm": "audio/webm",
            "mkv": "audio/x-matroska",
            "3gp": "audio/3gpp",
            "avi": "audio/avi",
        }
        if extension in audio_only:
            return audio_only[extension]
    return mime_for_extension(extension)
