"""``statusgate demo``: a ready sandbox instance named ``demo`` with contacts and a picture to post."""

from __future__ import annotations

import io
import json
import shlex
from dataclasses import dataclass

from PIL import Image, ImageDraw

from statusgate.domain.models import EngineName
from statusgate.engines.sandbox_network import ImportedContact
from statusgate.services import instances, media
from statusgate.services.context import ServiceContext
from statusgate.store import media as media_store

DEMO_NAME = "demo"
DEMO_PICTURE = "statusgate-demo.jpg"

#: the demo address book: five named contacts, one saved without a name, one WhatsApp user not in it
DEMO_CONTACTS = (
    ImportedContact("79990000001@c.us", "Alice", "Alice (demo)", True),
    ImportedContact("79990000002@c.us", "Bob", "Bob (demo)", True),
    ImportedContact("79990000003@c.us", "Carol", "Carol (demo)", True),
    ImportedContact("79990000004@c.us", "Dave", "Dave (demo)", True),
    ImportedContact("79990000005@c.us", "Erin", "Erin (demo)", True),
    ImportedContact("79990000006@c.us", "Frank", "", True),
    ImportedContact("79990000007@c.us", "Grace", "", False),
)


@dataclass(frozen=True)
class Demo:
    credentials: instances.Credentials
    picture_url: str

    def curl(self) -> str:
        url = (
            f"{self.credentials.api_url}/waInstance{self.credentials.id_instance}/sendMediaStatus/"
            f"{self.credentials.api_token}"
        )
        body = json.dumps(
            {"urlFile": self.picture_url, "fileName": DEMO_PICTURE, "caption": "Hello from statusgate"}
        )
        return (
            f"curl -sS -X POST {shlex.quote(url)} -H 'Content-Type: application/json' -d {shlex.quote(body)}"
        )


def demo_picture() -> bytes:
    """A 9:16 picture drawn on the spot, so the repository carries no binary."""
    width, height = 540, 960
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        shade = int(40 + 160 * y / height)
        draw.line([(0, y), (width, y)], fill=(20, shade, 90))
    draw.ellipse([(170, 330), (370, 530)], fill=(250, 250, 250))
    draw.text((190, 600), "statusgate demo", fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


async def ensure_demo(ctx: ServiceContext) -> Demo:
    """Create the demo instance once; at every start rotate its token, authorize it, and host its picture."""
    existing = await instances.get_by_name(ctx, DEMO_NAME)
    if existing is None:
        created = await instances.create(ctx, engine=EngineName.SANDBOX, authorized=True, name=DEMO_NAME)
        id_instance = created.id_instance
        await ctx.sandbox.import_contacts(id_instance, DEMO_CONTACTS)
    else:
        id_instance = existing.id_instance
    credentials = await instances.rotate_token(ctx, id_instance)
    await ctx.sandbox.scan(id_instance)
    upload = await ctx.db.read(media_store.find_upload_by_name, id_instance, DEMO_PICTURE)
    if upload is not None and ctx.media.blob_path(upload.sha256).exists():
        url = ctx.links.upload_url(upload.upload_id, DEMO_PICTURE)
    else:
        tmp = ctx.media.new_temp_path(".jpg")
        tmp.write_bytes(demo_picture())
        try:
            url = await media.store_file(ctx, tmp, DEMO_PICTURE, instance_id=id_instance, keep_seconds=None)
        finally:
            tmp.unlink(missing_ok=True)
    return Demo(credentials, url)
