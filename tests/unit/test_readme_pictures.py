"""Every picture the README shows is committed, is a PNG, and stays small enough to keep the clone light."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
#: the issue's bound for the console's screenshot
MAX_BYTES = 200 * 1024


def test_the_readme_pictures_exist_and_are_small_pngs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert "docs/console.png" in pictures
    for picture in pictures:
        path = ROOT / picture
        assert path.stat().st_size < MAX_BYTES, (picture, path.stat().st_size)
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.width >= 390
