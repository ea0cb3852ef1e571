"""Preparing a picture stays within 300 MB: probe and conversion run in a child under an address-space limit.

A reading of the peak RSS afterwards would only report an overrun; under ``RLIMIT_AS`` an allocation past the
limit fails (MemoryError, or the child dies), so a preparation that needs more cannot pass. ``bench/media.py``
reports the peak RSS of the same preparations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.mediagen import write_big_png

LIMIT_BYTES = 300 * 1024 * 1024

# Runs in the child: everything is imported before the limit is set, so the limit is what one preparation
# may add to a process that is ready to prepare.
CHILD = """
import json, resource, sys
from pathlib import Path

from PIL import Image

from statusgate.domain.models import MediaKind
from statusgate.errors import MediaError
from statusgate.media.convert import ConversionSettings, convert_media
from statusgate.media.probe import probe_file

settings = ConversionSettings()
# As MediaPreparer does: Pillow's bomb check reads this process-wide value.
Image.MAX_IMAGE_PIXELS = settings.max_image_pixels
status = Path("/proc/self/status").read_text().splitlines()
size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
limit = size + int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
source, dest = Path(sys.argv[1]), Path(sys.argv[2])
try:
    converted = convert_media(source, probe_file(source, MediaKind.IMAGE), dest, settings)
except MediaError as error:
    print(json.dumps({"refused": error.message}))
else:
    with Image.open(dest) as written:
        print(json.dumps({"format": written.format, "size": list(written.size), "mime": converted.mime_type}))
"""


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # About 1 MB and 0.4 MB on disk: the rows are streamed through zlib, never held.
    folder = tmp_path_factory.mktemp("big-pictures")
    return {
        "photo": write_big_png(folder / "photo.png", 10_000, 9_999),
        "thread": write_big_png(folder / "thread.png", 1, 99_000_000),
        # Just under image_decode_max_bytes (192 MiB): decoded whole by Pillow, flattened and resized.
        "logo": write_big_png(folder / "logo.png", 4_300, 4_300, colour_type=6),
    }


def prepare_in_child(source: Path, dest: Path) -> dict[str, Any]:
    # glibc gives threads malloc arenas of their own, each reserving 64 MB of address space that is not
    # memory until used; two arenas keep those reservations from counting against the limit. libvips' own
    # worker count is set to one by statusgate.media.image_decode.
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(source), str(dest), str(LIMIT_BYTES)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"the child failed ({done.returncode}):\n{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_10000_by_9999_png_becomes_a_jpeg_within_300_mb(pictures: dict[str, Path], tmp_path: Path) -> None:
    result = prepare_in_child(pictures["photo"], tmp_path / "photo.jpg")
    assert result == {"format": "JPEG", "size": [1920, 1920], "mime": "image/jpeg"}


def test_png_one_pixel_wide_is_refused_by_its_height_not_by_memory(
    pictures: dict[str, Path], tmp_path: Path
) -> None:
    result = prepare_in_child(pictures["thread"], tmp_path / "thread.jpg")
    assert result == {
        "refused": "urlFile image is too large: 1×99000000 is wider or taller than 30000 pixels "
        "(max_image_dimension_px)"
    }


def test_picture_just_under_the_decode_budget_is_converted_whole_within_300_mb(
    pictures: dict[str, Path], tmp_path: Path
) -> None:
    result = prepare_in_child(pictures["logo"], tmp_path / "logo.jpg")
    assert result == {"format": "JPEG", "size": [1920, 1920], "mime": "image/jpeg"}
