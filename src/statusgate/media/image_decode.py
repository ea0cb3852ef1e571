"""Decoding a picture within a memory budget: what decoding it whole would take, and decoding it streaming.

Pillow decodes a picture whole, storing RGB as 4 bytes a pixel, and the conversion then works on copies of
it: preparing a 10000×9999 PNG took 546 MB that way. Under ``image_decode_max_bytes`` that is fine, and Pillow
converts the picture as it always has. Over it, libvips reads the file a band of rows at a time and shrinks
each band as it goes, so only the small result ever exists whole. Only decoders that really work that way
qualify (a progressive JPEG keeps every coefficient until its last scan, a lossless WebP or a GIF decodes
whole frames, HEIF has no streaming decoder at all); the others are refused above the budget.

All estimates are upper bounds of what Pillow (and its plugins) hold at once, modelled on how they decode;
``tests/integration/test_media_memory.py`` checks them under an address-space limit.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pyvips
from PIL import Image, TiffImagePlugin

# The operation cache would keep decoded bands and open files of finished conversions alive, and a
# conversion's input is a temporary file that is deleted right after.
pyvips.cache_set_max(0)
# libvips' workers each hold their own bands, so a streaming decode's memory grows with their number
# (94 MB with one, 417 MB with sixteen, for a 30000 px wide PNG); preparations already run side by side.
pyvips.concurrency_set(1)

#: Pillow's resize first reduces by a whole factor while that leaves 3× the target (the converter's
#: ``reducing_gap``); the streaming path reduces the same way.
REDUCING_GAP = 3.0

# Bytes a pixel that Pillow's plugins hold besides the image while they decode (measured): HEIF decodes into
# a buffer of its own (3 or 4 bytes, plus part of libheif's planar YCbCr); AVIF also keeps dav1d's YUV
# frame; WebP goes through libwebp's animation decoder, which keeps two RGBA canvases, and the frame is
# copied out once more.
_DECODER_COPY_BYTES = {"HEIF": 4, "AVIF": 6, "WEBP": 12}


def stored_bytes(mode: str, size: tuple[int, int]) -> int:
    """Memory of a Pillow image of ``mode`` and ``size``: 1 byte a pixel for 1, L and P, 2 for I;16,
    else 4 (RGB is stored as RGBX)."""
    width, height = size
    per_pixel = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    return width * height * per_pixel


def load_bytes(image: Image.Image, source_size: tuple[int, int]) -> int:
    """What ``image.load()`` holds at its peak: the decoded image, the decoder's own copy, and a progressive
    JPEG's coefficients.

    ``image`` is open and not loaded yet, drafted if it is to be; ``source_size`` is its size before that.
    """
    pixels = image.width * image.height
    return (
        stored_bytes(image.mode, image.size)
        + pixels * _DECODER_COPY_BYTES.get(image.format or "", 0)
        + _jpeg_coefficient_bytes(image, source_size)
        + _tiff_held_bytes(image)
    )


def pillow_bytes(image: Image.Image, source_size: tuple[int, int], target: tuple[int, int]) -> int:
    """The peak of converting ``image`` in memory with Pillow: load, flatten, resize to ``target``.

    ``image`` and ``source_size`` are as for :func:`load_bytes`.
    """
    size = image.size
    stored = stored_bytes(image.mode, size)
    if image.mode == "RGB" and "transparency" not in image.info:
        working = 0  # resized as it is
    elif image.mode == "RGBA":
        working = stored_bytes("RGB", size)  # pasted onto the background with its own alpha as the mask
    elif image.mode in ("LA", "La", "PA", "RGBa") or "transparency" in image.info:
        working = 2 * stored_bytes("RGB", size)  # converted to RGBA, then pasted
    elif image.mode.startswith("I;16"):
        working = stored + stored_bytes("RGB", size)  # scaled to 8 bits, then converted to RGB
    else:
        working = stored_bytes("RGB", size)  # converted to RGB
    held = _tiff_held_bytes(image)
    return max(load_bytes(image, source_size), stored + held + working + _resize_bytes(size, target))


def _resize_bytes(size: tuple[int, int], target: tuple[int, int]) -> int:
    """Pillow's resize: an optional whole-factor reduction, a horizontal pass, then the vertical one."""
    (width, height), (target_width, target_height) = size, target
    if size == target:
        return 0
    total = 0
    factor_x = max(1, int(width / target_width / REDUCING_GAP))
    factor_y = max(1, int(height / target_height / REDUCING_GAP))
    if factor_x > 1 or factor_y > 1:
        width, height = -(-width // factor_x), -(-height // factor_y)
        total += stored_bytes("RGB", (width, height))
    return total + stored_bytes("RGB", (target_width, height)) + stored_bytes("RGB", target)


def _jpeg_coefficient_bytes(image: Image.Image, source_size: tuple[int, int]) -> int:
    # A progressive JPEG is refined scan by scan, so libjpeg keeps the DCT coefficients of the whole picture
    # (2 bytes each, 64 per 8×8 block of every component) until the last scan; drafting does not shrink
    # them. A baseline JPEG is decoded one row of blocks at a time.
    if image.format not in ("JPEG", "MPO") or not image.info.get("progressive"):
        return 0
    layers: list[tuple[str, int, int, int]] = getattr(image, "layer", [])
    if not layers:
        return 0
    width, height = source_size
    h_max = max(h for _, h, _, _ in layers)
    v_max = max(v for _, _, v, _ in layers)
    blocks = 0
    for _, h, v, _ in layers:
        # Components are padded to whole MCUs, each hmax×8 by vmax×8 pixels.
        mcus_x, mcus_y = -(-width // (8 * h_max)), -(-height // (8 * v_max))
        blocks += mcus_x * h * mcus_y * v
    return blocks * 64 * 2


def streaming_loader(image: Image.Image, path: Path, budget: int) -> str | None:
    """The libvips loader that decodes ``image`` (opened by Pillow from ``path``) a band of rows at a time,
    within ``budget`` bytes, or None if no loader does."""
    if image.format == "PNG":
        # Adam7 interlacing spreads every row over seven passes; libvips decodes such a PNG whole.
        return None if image.info.get("interlace") else "pngload"
    if image.format in ("JPEG", "MPO"):
        return None if image.info.get("progressive") else "jpegload"
    if image.format == "WEBP":
        return "webpload" if _webp_is_simple_lossy(path) else None
    if image.format == "TIFF":
        # libvips keeps a strip, or a row of tiles, and the one being decoded.
        return "tiffload" if 2 * _tiff_band_bytes(image) <= budget else None
    return None


def _tiff_held_bytes(image: Image.Image) -> int:
    # Pillow's libtiff decoder keeps a strip's buffer, and libtiff maps the file (its pages count as the
    # process's memory once read), until the file is closed: a band decoded and one compressed.
    return 2 * _tiff_band_bytes(image)


def _tiff_band_bytes(image: Image.Image) -> int:
    """The rows libtiff decodes at once: a compressed strip, or a row of tiles (0 if not a TIFF)."""
    if not isinstance(image, TiffImagePlugin.TiffImageFile):
        return 0
    tags = image.tag_v2
    if 323 in tags:  # TileLength
        rows = int(tags[323])
    elif tags.get(259, 1) == 1:  # uncompressed: libtiff reads it a row at a time
        rows = 1
    else:
        rows = int(tags.get(278, image.height))  # RowsPerStrip
    bits = tags.get(258, (8,))  # BitsPerSample, per sample
    bytes_per_pixel = -(-sum(bits if isinstance(bits, tuple) else (bits,)) // 8)
    return image.width * min(rows, image.height) * max(bytes_per_pixel, 1)


def _webp_is_simple_lossy(path: Path) -> bool:
    # Only lossy WebP without alpha decodes incrementally; libwebp decodes lossless pictures and alpha
    # planes whole. The RIFF header says which (a VP8X header lists its features, then the chunks follow).
    with path.open("rb") as file:
        header = file.read(30)
        if len(header) < 20 or header[:4] != b"RIFF" or header[8:12] != b"WEBP":
            return False
        kind = header[12:16]
        if kind != b"VP8X":
            return kind == b"VP8 "
        if len(header) < 30 or header[20] & 0x12:  # alpha or animation
            return False
        file.seek(30)
        for _ in range(16):  # ICCP, EXIF, XMP … may precede the image data
            chunk = file.read(8)
            if len(chunk) < 8:
                return False
            kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if kind in (b"VP8 ", b"VP8L", b"ALPH"):
                return kind == b"VP8 "
            file.seek(size + (size & 1), 1)
    return False


def shrink_streaming(
    path: Path,
    loader: str,
    source_size: tuple[int, int],
    target: tuple[int, int],
    background: tuple[int, int, int],
) -> Image.Image:
    """Decode ``path`` (``source_size`` pixels) with the libvips ``loader`` a band of rows at a time,
    flatten any transparency onto ``background`` and shrink it to ``target`` (Lanczos 3, after a box
    reduction like Pillow's): an RGB image, not rotated (EXIF orientation is left to the caller).

    Raises :class:`OSError` when the file is damaged or truncated, as Pillow does.
    """
    # "error": give up on any decoder error, truncation included, rather than pad the missing rows.
    options: dict[str, object] = {"access": "sequential", "fail_on": "error"}
    # JPEG and WebP can decode straight at a reduced scale (like Pillow's draft, never below the target).
    shrink = _load_shrink(source_size, target) if loader in ("jpegload", "webpload") else 1
    if loader == "jpegload":
        options["shrink"] = shrink
    elif loader == "webpload":
        options["scale"] = 1 / shrink
    try:
        return _shrink(getattr(pyvips.Image, loader)(str(path), **options), target, background)
    except pyvips.Error as error:
        raise OSError(f"libvips: {error}") from error


def _shrink(picture: pyvips.Image, target: tuple[int, int], background: tuple[int, int, int]) -> Image.Image:
    if picture.format != "uchar" or picture.interpretation != "srgb":
        # 16-bit, grey, CMYK (through libvips' fallback CMYK profile) …: 8-bit sRGB, alpha kept.
        picture = picture.colourspace("srgb")
    if picture.hasalpha():
        # Before shrinking, as Pillow's path does: averaging unpremultiplied colours would let the hidden
        # colour of transparent pixels bleed into the edges.
        picture = picture.flatten(background=list(background)).cast("uchar")
    target_width, target_height = target
    factor_x = max(1, int(picture.width / target_width / REDUCING_GAP))
    factor_y = max(1, int(picture.height / target_height / REDUCING_GAP))
    # Horizontally first: every later step then handles rows a factor narrower.
    if factor_x > 1:
        picture = picture.shrinkh(factor_x)
    if factor_y > 1:
        picture = picture.shrinkv(factor_y)
    if (picture.width, picture.height) != target:
        picture = picture.resize(
            target_width / picture.width,
            vscale=target_height / picture.height,
            kernel="lanczos3",
            gap=0.0,
        )
    data: bytes = picture.write_to_memory()
    size: tuple[int, int] = (picture.width, picture.height)
    return Image.frombytes("RGB", size, data)


def _load_shrink(size: tuple[int, int], target: tuple[int, int]) -> int:
    (width, height), (target_width, target_height) = size, target
    scale = min(width // target_width, height // target_height)
    return next(s for s in (8, 4, 2, 1) if scale >= s)
