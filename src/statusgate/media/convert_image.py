"""Any accepted picture (JPEG, PNG, WebP, HEIC …) → a JPEG WhatsApp shows as a status, with its thumbnail.

Pillow's and libvips' operations are single C calls that cannot check a clock; what bounds their time is the
pixel limit, checked from the header before any pixel is decoded. The budget is checked between the steps.
What bounds their memory is :mod:`~statusgate.media.image_decode`: a picture too big to decode whole is
decoded streaming, or refused.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from statusgate.domain.models import MediaKind
from statusgate.errors import MediaError
from statusgate.media import image_decode
from statusgate.media.convert_common import (
    ConversionSettings,
    Converted,
    Deadline,
    fit_within,
    jpeg_thumbnail,
)
from statusgate.media.image_decode import REDUCING_GAP, pillow_bytes, streaming_loader
from statusgate.media.probe import open_image

# White, not black: a transparent picture (logo, sticker, screenshot of a document) is nearly always drawn
# for a light page, so its dark strokes stay readable on white; flattening onto black is the well-known
# "my transparent PNG turned black on WhatsApp" complaint.
BACKGROUND = (255, 255, 255)

# ICC profiles describe RGB data only in these modes; a grey or CMYK profile would be wrong on RGB output.
_RGB_MODES = frozenset({"RGB", "RGBA", "RGBX", "P", "PA"})

# EXIF orientation → the transposition that shows the picture upright.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_MB = 1_000_000


def too_many_pixels(width: int, height: int, limit: int, noun: str = "image") -> MediaError:
    return MediaError(
        f"urlFile {noun} is too large: {width}×{height} is more than {limit} pixels (max_image_pixels)"
    )


def convert_image(source: Path, dest: Path, settings: ConversionSettings, deadline: Deadline) -> Converted:
    """Write ``source`` as a JPEG to ``dest``: EXIF orientation applied, alpha flattened, long side capped.

    EXIF is not copied: orientation is already applied, and a status should not publish the place (GPS) and
    camera the photo was taken with.
    """
    try:
        with open_image(source) as image:
            width, height = image.size
            _check_size(width, height, settings)
            icc = image.info.get("icc_profile") if image.mode in _RGB_MODES else None
            target = fit_within(width, height, settings.image_max_side_px)
            # JPEG can decode straight at 1/2, 1/4 or 1/8 scale: a 48 MP photo never exists in memory
            # at full size when only 1920 px are wanted. draft keeps at least the requested size.
            image.draft(None, target)
            cost = pillow_bytes(image, (width, height), target)
            if cost <= settings.image_decode_max_bytes:
                picture = _convert_in_memory(image, target)
                orientation = _orientation(image)
            else:
                loader = streaming_loader(image, source, settings.image_decode_max_bytes)
                if loader is None:
                    raise _too_big_to_decode(image, width, height, cost, settings)
                orientation = _orientation(image, decoded=False)
                deadline.check()
                picture = image_decode.shrink_streaming(source, loader, (width, height), target, BACKGROUND)
        deadline.check()
        if orientation in _ORIENTATION:
            picture = picture.transpose(_ORIENTATION[orientation])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(
            f"urlFile image is too large (more than {settings.max_image_pixels} pixels)"
        ) from None
    except (MediaError, MemoryError):
        # Running out of memory says nothing about the file: not a "damaged" verdict.
        raise
    except Exception:
        # Pillow reports bad data as OSError, SyntaxError, ValueError … depending on the codec.
        raise MediaError(
            "urlFile returned a damaged or truncated image file (it could not be converted)"
        ) from None
    deadline.check()
    picture.save(dest, "JPEG", quality=settings.jpeg_quality, icc_profile=icc)
    return Converted(
        path=dest,
        kind=MediaKind.IMAGE,
        mime_type="image/jpeg",
        extension="jpg",
        jpeg_thumbnail=jpeg_thumbnail(picture, settings.thumbnail_max_side_px),
        width=picture.width,
        height=picture.height,
    )


def _check_size(width: int, height: int, settings: ConversionSettings) -> None:
    if width * height > settings.max_image_pixels:
        raise too_many_pixels(width, height, settings.max_image_pixels)
    if width == 0 or height == 0:
        raise MediaError("urlFile image has no pixels")
    limit = settings.max_image_dimension_px
    if max(width, height) > limit:
        # Even a streaming decode holds whole rows, and Pillow keeps a pointer for every row.
        raise MediaError(
            f"urlFile image is too large: {width}×{height} is wider or taller than {limit} pixels "
            "(max_image_dimension_px)"
        )


def _too_big_to_decode(
    image: Image.Image, width: int, height: int, cost: int, settings: ConversionSettings
) -> MediaError:
    return MediaError(
        f"urlFile image is too large to convert: decoding this {_describe(image)} of {width}×{height} "
        f"would take about {-(-cost // _MB)} MB, more than {settings.image_decode_max_bytes // _MB} MB "
        "(image_decode_max_bytes); a smaller picture, a baseline JPEG or a non-interlaced PNG would do"
    )


def _describe(image: Image.Image) -> str:
    if image.format in ("JPEG", "MPO") and image.info.get("progressive"):
        return "progressive JPEG"
    if image.format == "PNG" and image.info.get("interlace"):
        return "interlaced PNG"
    # A lossy WebP without alpha is always decoded streaming, so a refused one is none of those.
    names = {"HEIF": "HEIC/HEIF", "WEBP": "lossless, transparent or animated WebP"}
    return names.get(image.format or "", image.format or "picture")


def _convert_in_memory(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """``image`` decoded whole, flattened and resized to ``target``: a new image, at most ``target``."""
    flat = _flatten(image)
    if flat.size == target:
        # Closing the file releases its pixels too; this copy is at most the capped size.
        return flat.copy() if flat is image else flat
    # reducing_gap: a cheap box reduction first, then Lanczos over at most 3× the target (as thumbnail()).
    return flat.resize(target, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


def _orientation(image: Image.Image, *, decoded: bool = True) -> int:
    # A PNG's eXIf chunk may follow the pixels, and Pillow decodes them all to reach it; a PNG too big for
    # that keeps only an orientation stored before its pixels.
    if not decoded and image.format == "PNG" and "exif" not in image.info:
        return 1
    orientation = image.getexif().get(0x0112, 1)
    return orientation if isinstance(orientation, int) else 1


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _flatten(image: Image.Image) -> Image.Image:
    """``image`` in RGB (itself if it already is), transparent parts painted over :data:`BACKGROUND`."""
    if not _has_alpha(image):
        if image.mode.startswith("I;16"):
            # 16-bit grey (PNG): converting clips every value above 255 to white, so scale it first.
            image = image.point(lambda value: value / 257)
        return image.convert("RGB") if image.mode != "RGB" else image
    picture = Image.new("RGB", image.size, BACKGROUND)
    # RGBA pastes straight onto RGB with its own alpha as the mask; converting it first would be one more
    # full-size copy (see image_decode.pillow_bytes). Other modes (LA included) do not paste correctly.
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    picture.paste(rgba, mask=rgba)
    return picture
