"""Media pipeline against the reference tools, in one run on the same generated inputs.

(a) a 10-minute H.264/AAC MP4 cut to 60 s: statusgate's conversion, timed in-process, against
    ``ffmpeg -ss 0 -t 60 -i … -c copy -movflags +faststart`` timed as a whole process (start-up included);
    goal ≤ 1.2×.
(b) a 75 s VP9/Opus WebM re-encoded to H.264/AAC (≤ 60 s): the same comparison, ffmpeg with the same libx264
    preset and CRF and AAC at the same bit rate; goal ≤ 1.2×.
(c) peak RSS of a process preparing a 100 MB video (fetch from its own link, probe, hash, convert, store), for
    a stream-copied H.264 file and a re-encoded MPEG-4 Part 2 file; goal < 300 MB.
(d) a 100 MB download on loopback: ``fetch_to_file`` against ``curl -o`` (a whole process), from the same
    HTTP server (its own process); goal ≥ 0.8× curl's throughput.
(e) peak RSS of a process preparing a picture too big to decode whole: a 10000×9999 RGB PNG (converted,
    streaming) and a 1×99,000,000 PNG (refused by its height); goal < 300 MB.

The inputs are generated with PyAV in a temporary directory (not timed). The ffmpeg CLI and curl are
installed with apt-get when missing (as root); without them the bench exits non-zero. Only loopback is used.
``--only e`` (or any other letters) runs just those parts.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import json
import os
import shutil
import socketserver
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from statusgate.domain.models import MediaKind, PreparedMedia  # noqa: E402
from statusgate.errors import MediaError  # noqa: E402
from statusgate.media.convert import ConversionSettings, convert_media  # noqa: E402
from statusgate.media.fetch import fetch_to_file  # noqa: E402
from statusgate.media.guard import UrlGuard  # noqa: E402
from statusgate.media.prepare import MediaPreparer  # noqa: E402
from statusgate.media.probe import probe_file  # noqa: E402
from statusgate.media.store import MediaStore  # noqa: E402
from tests.mediagen import noise_frames, write_big_png, write_video  # noqa: E402

MB = 1_000_000
SETTINGS = ConversionSettings()
LIMIT = f"{SETTINGS.max_seconds:g}"


def ensure_tools() -> None:
    missing = [tool for tool in ("ffmpeg", "curl") if shutil.which(tool) is None]
    if missing and os.geteuid() == 0:
        print(f"installing {' '.join(missing)} with apt-get …", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "ffmpeg", "curl"], check=False, capture_output=True
        )
    still = [tool for tool in ("ffmpeg", "curl") if shutil.which(tool) is None]
    if still:
        sys.exit(f"reference tool(s) missing and not installable: {', '.join(still)}")


def timed(action: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` runs of ``action``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(command: list[str]) -> None:
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL, capture_output=True)


def duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return (container.duration or 0) / av.time_base


def verdict(ok: bool) -> str:
    return "goal met" if ok else "GOAL MISSED"


# --- inputs ---------------------------------------------------------------------------------------------


def make_inputs(work: Path) -> dict[str, Path]:
    start = time.perf_counter()
    print("generating inputs (not timed) …", flush=True)
    inputs = {
        # ~1.4 Mbit/s of blocky noise: about 100 MB for 10 minutes, like a phone's 360p export.
        "h264_10min": write_video(
            work / "ten-minutes.mp4",
            container="mp4",
            video_codec="libx264",
            audio_codec="aac",
            seconds=600,
            width=640,
            height=360,
            fps=25,
            frames=noise_frames(640, 360, 50, block=16),
            options={"preset": "ultrafast"},
            bit_rate=1_250_000,
            audio_rate=48_000,
        ),
        "vp9_75s": write_video(
            work / "clip.webm",
            container="webm",
            video_codec="libvpx-vp9",
            audio_codec="libopus",
            seconds=75,
            width=640,
            height=360,
            fps=25,
            frames=noise_frames(640, 360, 50, block=16),
            options={"deadline": "realtime", "cpu-used": "8"},
            bit_rate=1_000_000,
            audio_rate=48_000,
            audio_layout="stereo",
        ),
        # MPEG-4 Part 2 at 720p is not stream-copyable: the 100 MB re-encode case of (c).
        "mpeg4_100mb": write_video(
            work / "camera.avi",
            container="avi",
            video_codec="mpeg4",
            audio_codec="libmp3lame",
            seconds=75,
            width=1280,
            height=720,
            fps=25,
            frames=noise_frames(1280, 720, 50, block=32),
            bit_rate=11_000_000,
            audio_rate=44_100,
            audio_layout="stereo",
        ),
    }
    blob = work / "download.bin"
    with blob.open("wb") as file:
        for _ in range(100):
            file.write(os.urandom(MB))
    inputs["blob_100mb"] = blob
    for name, path in inputs.items():
        print(f"  {name}: {path.stat().st_size / MB:.1f} MB", flush=True)
    print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    return inputs


# --- (a) and (b) ----------------------------------------------------------------------------------------


def statusgate_convert(source: Path, dest: Path) -> Callable[[], object]:
    probed = probe_file(source, MediaKind.VIDEO)

    def action() -> object:
        dest.unlink(missing_ok=True)
        return convert_media(source, probed, dest, SETTINGS)

    return action


def statusgate_prepare(source: Path, work: Path, kind: MediaKind = MediaKind.VIDEO) -> Callable[[], object]:
    """The whole preparation of a status's media from this server's own link: copy, probe, hash, convert,
    store."""

    async def own_file(url: str) -> Path | None:
        return source

    preparer = MediaPreparer(
        store=MediaStore(work / "store"),
        guard=UrlGuard(allow_private=False),
        local_source=own_file,
        max_bytes=200 * MB,
        connect_timeout=5,
        read_timeout=5,
        total_timeout=60,
        max_redirects=0,
        conversion=SETTINGS,
    )

    name = "v.mp4" if kind is MediaKind.VIDEO else "i.png"

    def action() -> object:
        return asyncio.run(preparer.prepare(f"https://statusgate.invalid/media/x/{name}", name, kind))

    return action


def bench_cut(inputs: dict[str, Path], work: Path) -> None:
    source = inputs["h264_10min"]
    ours, theirs = work / "cut-statusgate.mp4", work / "cut-ffmpeg.mp4"
    ffmpeg = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", "0", "-t", LIMIT, "-i", str(source)]
    ffmpeg += ["-c", "copy", "-movflags", "+faststart", str(theirs)]
    timed(statusgate_convert(source, ours), 1)  # warm-up: page cache, codec tables
    t_ours = timed(statusgate_convert(source, ours), 5)
    t_theirs = timed(lambda: run(ffmpeg), 5)
    t_prepare = timed(statusgate_prepare(source, work / "prepare-store"), 3)
    ratio = t_ours / t_theirs
    print(
        f"\n(a) 10-minute H.264/AAC MP4 ({source.stat().st_size / MB:.0f} MB) cut to {LIMIT} s, stream copy"
    )
    print(f"    statusgate convert (in-process):        {t_ours * 1000:8.1f} ms  → {duration(ours):.2f} s")
    print(
        f"    ffmpeg -c copy (whole process):         {t_theirs * 1000:8.1f} ms  → {duration(theirs):.2f} s"
    )
    print(f"    ratio statusgate/ffmpeg: {ratio:.2f}×  (goal ≤ 1.2×: {verdict(ratio <= 1.2)})")
    print(
        f"    for reference, statusgate's whole prepare from its own link: {t_prepare * 1000:.0f} ms (copies,\n"
        "    probes and hashes the whole source, then converts and stores; the cache makes it once per file)"
    )


def bench_reencode(inputs: dict[str, Path], work: Path) -> None:
    source = inputs["vp9_75s"]
    ours, theirs = work / "vp9-statusgate.mp4", work / "vp9-ffmpeg.mp4"
    ffmpeg = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), "-t", LIMIT]
    ffmpeg += ["-c:v", "libx264", "-preset", SETTINGS.video_preset, "-crf", str(SETTINGS.video_crf)]
    ffmpeg += ["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"]
    ffmpeg += ["-movflags", "+faststart", str(theirs)]
    t_ours = timed(statusgate_convert(source, ours), 3)
    t_theirs = timed(lambda: run(ffmpeg), 3)
    ratio = t_ours / t_theirs
    print(
        f"\n(b) 75 s VP9/Opus WebM 640×360 25 fps → H.264/AAC, {SETTINGS.video_preset} CRF {SETTINGS.video_crf}"
    )
    print(
        f"    statusgate convert (in-process):        {t_ours:8.2f} s   → {duration(ours):.2f} s, "
        f"{ours.stat().st_size / MB:.1f} MB"
    )
    print(
        f"    ffmpeg libx264 + aac (whole process):   {t_theirs:8.2f} s   → {duration(theirs):.2f} s, "
        f"{theirs.stat().st_size / MB:.1f} MB"
    )
    print(f"    ratio statusgate/ffmpeg: {ratio:.2f}×  (goal ≤ 1.2×: {verdict(ratio <= 1.2)})")


# --- (c) ------------------------------------------------------------------------------------------------


def rss_child(source: Path, work: Path, kind: MediaKind) -> None:
    """Runs in its own process: prepare ``source`` as a status would, then report this process's peak RSS
    (one JSON line)."""

    def status_kb(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    prepare = statusgate_prepare(source, work, kind)
    before = status_kb("VmHWM")
    start = time.perf_counter()
    report: dict[str, object] = {}
    try:
        media = prepare()
    except MediaError as error:
        report["refused"] = error.message
    else:
        assert isinstance(media, PreparedMedia)
        report |= {"size": media.size, "seconds": media.duration_seconds, "width": media.width}
        report["height"] = media.height
    report |= {"before_kb": before, "peak_kb": status_kb("VmHWM"), "elapsed": time.perf_counter() - start}
    print(json.dumps(report))


def prepare_in_child(source: Path, work: Path, kind: MediaKind) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(source), str(work), kind.value],
        check=True,
        capture_output=True,
        text=True,
    )
    report: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return report


def peak_mb(report: dict[str, object], key: str = "peak_kb") -> float:
    value = report[key]
    assert isinstance(value, int)
    return value / 1024


def bench_rss(inputs: dict[str, Path], work: Path) -> None:
    print("\n(c) peak RSS of a process preparing a 100 MB video (VmHWM of that process)")
    worst = 0.0
    for name, label in (
        ("h264_10min", "H.264 MP4, stream copy"),
        ("mpeg4_100mb", "MPEG-4 Part 2 AVI 720p, re-encode"),
    ):
        source = inputs[name]
        report = prepare_in_child(source, work / f"rss-{name}", MediaKind.VIDEO)
        worst = max(worst, peak_mb(report))
        print(
            f"    {label} ({source.stat().st_size / MB:.0f} MB): peak {peak_mb(report):.0f} MB "
            f"(after imports {peak_mb(report, 'before_kb'):.0f} MB), {report['elapsed']:.1f} s, "
            f"→ {int(str(report['size'])) / MB:.1f} MB, {report['seconds']:.2f} s"
        )
    print(f"    worst peak: {worst:.0f} MB  (goal < 300 MB: {verdict(worst < 300)})")


def bench_image_rss(work: Path) -> None:
    print("\n(e) peak RSS of a process preparing a picture too big to decode whole (VmHWM of that process)")
    worst = 0.0
    for name, size, label in (
        ("photo.png", (10_000, 9_999), "10000×9999 RGB PNG"),
        ("thread.png", (1, 99_000_000), "1×99,000,000 RGB PNG"),
    ):
        # Streamed through zlib as it is written: about 1 MB and 0.4 MB, never whole in memory.
        source = write_big_png(work / name, *size)
        report = prepare_in_child(source, work / f"rss-{name}", MediaKind.IMAGE)
        worst = max(worst, peak_mb(report))
        outcome = (
            f"refused: {report['refused']}"
            if "refused" in report
            else f"→ {report['width']}×{report['height']} JPEG, {int(str(report['size'])) / 1000:.0f} kB"
        )
        print(
            f"    {label} ({source.stat().st_size / MB:.1f} MB): peak {peak_mb(report):.0f} MB "
            f"(after imports {peak_mb(report, 'before_kb'):.0f} MB), {report['elapsed']:.2f} s, {outcome}"
        )
    print(f"    worst peak: {worst:.0f} MB  (goal < 300 MB: {verdict(worst < 300)})")


# --- (d) ------------------------------------------------------------------------------------------------


def serve(directory: Path) -> None:
    """Runs in its own process, so the server's Python never competes with the client's for one GIL."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            return

    class Server(http.server.ThreadingHTTPServer):
        def server_bind(self) -> None:
            # HTTPServer.server_bind would look up the host's FQDN; nothing here leaves loopback.
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = "localhost", int(self.server_address[1])

    with Server(("127.0.0.1", 0), Handler) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()


def bench_fetch(inputs: dict[str, Path], work: Path) -> None:
    blob = inputs["blob_100mb"]
    size = blob.stat().st_size
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(blob.parent)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/{blob.name}"
        ours, theirs = work / "fetched-statusgate.bin", work / "fetched-curl.bin"
        guard = UrlGuard(allow_private=True)

        def fetch() -> object:
            return asyncio.run(
                fetch_to_file(
                    url,
                    ours,
                    guard=guard,
                    max_bytes=2 * size,
                    connect_timeout=5,
                    read_timeout=30,
                    total_timeout=120,
                    max_redirects=0,
                )
            )

        curl = ["curl", "-sS", "--fail", "-o", str(theirs), url]
        timed(fetch, 1)  # warm-up
        t_ours = timed(fetch, 5)
        t_theirs = timed(lambda: run(curl), 5)
        assert ours.stat().st_size == theirs.stat().st_size == size
    finally:
        server.terminate()
        server.wait(10)
    ours_mbs, theirs_mbs = size / MB / t_ours, size / MB / t_theirs
    ratio = ours_mbs / theirs_mbs
    print(f"\n(d) {size / MB:.0f} MB download on loopback from a Python HTTP server (separate process)")
    print(f"    statusgate fetch_to_file (in-process):  {t_ours:6.3f} s  {ours_mbs:7.0f} MB/s")
    print(f"    curl -o (whole process):                {t_theirs:6.3f} s  {theirs_mbs:7.0f} MB/s")
    print(f"    throughput ratio statusgate/curl: {ratio:.2f}×  (goal ≥ 0.8×: {verdict(ratio >= 0.8)})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="abcde", metavar="PARTS", help="run only these parts, e.g. 'ce'")
    parser.add_argument("--rss-child", nargs=3, metavar=("SOURCE", "WORKDIR", "KIND"), help=argparse.SUPPRESS)
    parser.add_argument("--serve", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(Path(args.rss_child[0]), Path(args.rss_child[1]), MediaKind(args.rss_child[2]))
        return
    if args.serve:
        serve(Path(args.serve))
        return
    parts = set(args.only)
    with tempfile.TemporaryDirectory(prefix="statusgate-bench-") as tmp:
        work = Path(tmp)
        inputs: dict[str, Path] = {}
        if parts & set("abcd"):
            ensure_tools()
            version = subprocess.run(["ffmpeg", "-version"], check=True, capture_output=True, text=True)
            print(f"reference: {version.stdout.splitlines()[0]}; {os.cpu_count()} CPUs")
            inputs = make_inputs(work)
        for part, bench in (("a", bench_cut), ("b", bench_reencode), ("c", bench_rss), ("d", bench_fetch)):
            if part in parts:
                bench(inputs, work)
        if "e" in parts:
            bench_image_rss(work)


if __name__ == "__main__":
    main()
