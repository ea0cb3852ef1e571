"""Any accepted picture (JPEG, PNG, WebP, HEIC …) → a JPEG WhatsApp shows as a status, with its thumbnail.

Pillow's operations are single C calls that cannot check a clock; what bounds their time is the pixel limit,
checked from the header before any pixel is decoded. The budget is checked between the steps.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from statusgate.domain.models import MediaKind
from statusgate.errors import MediaError
from statusgate.media.convert_common import (
    ConversionSettings,
    Converted,
    Deadline,
    fit_within,
    jpeg_thumbnail,
)
from statusgate.media.probe import open_image

# White, not black: a transparent picture (logo, sticker, screenshot of a document) is nearly always drawn
# for a light page, so its dark strokes stay readable on white; flattening onto black is the well-known
# "my transparent PNG turned black on WhatsApp" complaint.
BACKGROUND = (255, 255, 255)

# ICC profiles describe RGB data only in these modes; a grey or CMYK profile would be wrong on RGB output.
_RGB_MODES = frozenset({"RGB", "RGBA", "RGBX", "P", "PA"})


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
            if width * height > settings.max_image_pixels:
                raise too_many_pixels(width, height, settings.max_image_pixels)
            if width == 0 or height == 0:
                raise MediaError("urlFile image has no pixels")
            icc = image.info.get("icc_profile") if image.mode in _RGB_MODES else None
            # JPEG can decode straight at 1/2, 1/4 or 1/8 scale: a 48 MP photo never exists in memory
            # at full size when only 1920 px are wanted. draft keeps at least the requested size.
            image.draft(None, fit_within(width, height, settings.image_max_side_px))
            ImageOps.exif_transpose(image, in_place=True)
            deadline.check()
            picture = _fit(_flatten(image), settings.image_max_side_px)
            if picture is image:
                # Closing the file releases its pixels too; this copy is at most the capped size.
                picture = image.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(
            f"urlFile image is too large (more than {settings.max_image_pixels} pixels)"
        ) from None
    except MediaError:
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


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _flatten(image: Image.Image) -> Image.Image:
    """``image`` in RGB (itself if it already is), transparent parts painted over :data:`BACKGROUND`."""
    if not _has_alpha(image):
        return image.convert("RGB") if image.mode != "RGB" else image
    rgba = image.convert("RGBA")
    picture = Image.new("RGB", rgba.size, BACKGROUND)
    picture.paste(rgba, mask=rgba.getchannel("A"))
    return picture


def _fit(image: Image.Image, max_side: int) -> Image.Image:
    size = fit_within(image.width, image.height, max_side)
    if size == image.size:
        return image
    # reducing_gap: a cheap box reduction first, then Lanczos over at most 3× the target (as thumbnail()).
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
