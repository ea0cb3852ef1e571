"""The settings of media conversion (pictures, video, voice made WhatsApp-ready). Part of
:class:`statusgate.settings.Settings`, kept apart so neither file grows past what one can read through; same
env prefix (``STATUSGATE_``), same flags of ``statusgate serve``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MediaConversionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STATUSGATE_", frozen=True, extra="ignore")

    # --- media conversion ----------------------------------------------------------------------------------
    image_max_side_px: int = Field(
        1920, ge=16, description="Images are scaled down so their long side is at most this (never cropped)."
    )
    thumbnail_max_side_px: int = Field(100, ge=8, description="Long side of the jpegThumbnail preview.")
    jpeg_quality: int = Field(85, ge=1, le=95, description="JPEG quality of converted images (1–95).")
    max_image_pixels: int = Field(
        100_000_000,
        ge=1,
        description="Images (and video frames) with more pixels are refused before decoding (bomb guard).",
    )
    video_max_side_px: int = Field(
        1280,
        ge=16,
        description="Re-encoded videos are scaled down to this long side; stream-copied H.264 keeps its size.",
    )
    video_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = Field("veryfast", description="libx264 preset for re-encoded videos (speed against size).")
    video_crf: int = Field(
        23, ge=0, le=51, description="libx264 CRF for re-encoded videos (lower is better)."
    )
    max_image_dimension_px: int = Field(
        30_000,
        ge=16,
        description="Images wider or taller than this are refused before decoding (even a streaming decode "
        "holds whole rows, and Pillow a pointer per row: this bounds what very wide or tall images need).",
    )
    image_decode_max_bytes: int = Field(
        192 * 1024 * 1024,
        ge=1024 * 1024,
        description="Memory an image may take while it is decoded and converted whole (estimated from its "
        "header). Bigger PNG, baseline JPEG, lossy WebP and TIFF images are decoded streaming with libvips "
        "instead; other formats (HEIC, AVIF, GIF, progressive JPEG …) are refused above it. The default "
        "fits a 24 MP phone HEIC.",
    )
    conversion_timeout_seconds: float = Field(
        180, gt=0, description="Time budget of one conversion; past it the status fails."
    )
