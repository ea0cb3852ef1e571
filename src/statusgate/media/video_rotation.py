"""Frames turned upright: a video's display rotation undone with FFmpeg's transpose/flip filters, as the ffmpeg
CLI's autorotate does."""

from __future__ import annotations

from fractions import Fraction

import av.filter
from av.video.frame import VideoFrame

# Display rotation (counter-clockwise degrees, as PyAV reports it) → the filters that undo it; what the
# ffmpeg CLI's autorotate does.
UNROTATE: dict[int, list[tuple[str, str | None]]] = {
    -90: [("transpose", "clock")],
    270: [("transpose", "clock")],
    90: [("transpose", "cclock")],
    -270: [("transpose", "cclock")],
    180: [("hflip", None), ("vflip", None)],
    -180: [("hflip", None), ("vflip", None)],
}


class Unrotator:
    """Turns frames upright with FFmpeg's transpose/flip filters (one graph, rebuilt if the size changes)."""

    def __init__(self, rotation: int) -> None:
        self.rotation = rotation
        self._graph: av.filter.Graph | None = None
        self._shape: tuple[int, int, str] | None = None

    def __call__(self, frame: VideoFrame) -> VideoFrame:
        if not self.rotation:
            return frame
        shape = (frame.width, frame.height, frame.format.name)
        if self._graph is None or shape != self._shape:
            graph = av.filter.Graph()
            # The graph's time base is irrelevant: callers set the output timestamps themselves.
            nodes = [
                graph.add_buffer(
                    width=frame.width, height=frame.height, format=frame.format, time_base=Fraction(1, 90_000)
                )
            ]
            nodes += [graph.add(name, args) for name, args in UNROTATE[self.rotation]]
            nodes.append(graph.add("buffersink"))
            graph.link_nodes(*nodes).configure()
            self._graph, self._shape = graph, shape
        self._graph.vpush(frame)
        return self._graph.vpull()
