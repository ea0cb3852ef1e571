"""Any accepted sound (MP3, WAV, M4A, Ogg …) → Ogg/Opus, mono, 48 kHz, at most ``max_seconds``, with the
64-value waveform WhatsApp draws for voice and audio statuses."""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from pathlib import Path

import av
import av.container
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream

from statusgate.domain.models import MediaKind
from statusgate.errors import MediaError
from statusgate.media.convert_common import (
    ConversionSettings,
    Converted,
    Deadline,
    container_seconds,
    damaged,
    first_samples,
    open_input,
    output_container,
)

RATE = 48_000
WAVEFORM_SAMPLES = 64
# Opus at 64 kbit/s mono is transparent for speech and good for music; WhatsApp's own notes use less.
_OPUS_BIT_RATE = 64_000
# Loudness is measured per 10 ms block; the 64 waveform values are the loudest blocks of each 1/64.
_BLOCK = RATE // 100


def convert_audio(source: Path, dest: Path, settings: ConversionSettings, deadline: Deadline) -> Converted:
    limit = int(settings.max_seconds * RATE)
    meter = _PeakMeter()
    kept = 0
    with open_input(source, deadline) as src:
        if not src.streams.audio:
            raise MediaError("urlFile audio has no audio stream")
        stream = src.streams.audio[0]
        declared = container_seconds(src)
        try:
            with output_container(dest, "ogg") as out:
                opus = out.add_stream("libopus", rate=RATE, layout="mono")
                opus.bit_rate = _OPUS_BIT_RATE
                for frame in _resampled(src, stream, deadline):
                    if kept >= limit:
                        break
                    if kept + frame.samples > limit:
                        # Cut inside the frame, not before it: the sound lasts the limit exactly.
                        frame = first_samples(frame, limit - kept)
                    meter.add(frame)
                    kept += frame.samples
                    frame.pts = None  # let the encoder count samples: continuous output
                    out.mux(opus.encode(frame))
                if not kept:
                    raise MediaError("urlFile audio has no sound in it")
                out.mux(opus.encode(None))
        except av.FFmpegError:
            raise damaged("audio", deadline) from None
    return Converted(
        path=dest,
        kind=MediaKind.AUDIO,
        mime_type="audio/ogg",
        extension="ogg",
        duration_seconds=kept / RATE,
        waveform=meter.waveform(),
        source_duration_seconds=declared,
    )


def _resampled(
    src: av.container.InputContainer, stream: AudioStream, deadline: Deadline
) -> Iterator[AudioFrame]:
    # Float samples: the meter reads them directly, and libopus takes them as they are.
    resampler = AudioResampler(format="flt", layout="mono", rate=RATE)
    for packet in src.demux(stream):
        deadline.check()
        for decoded in packet.decode():
            if isinstance(decoded, AudioFrame):
                yield from resampler.resample(decoded)
    yield from resampler.resample(None)


class _PeakMeter:
    """Peak level of every 10 ms block of mono float samples."""

    def __init__(self) -> None:
        self.blocks: list[float] = []
        self._pending = array("f")

    def add(self, frame: AudioFrame) -> None:
        samples = array("f", bytes(frame.planes[0]))
        # A plane's buffer is padded for SIMD; only the first ``samples`` values are sound.
        del samples[frame.samples :]
        self._pending.extend(samples)
        full = len(self._pending) - len(self._pending) % _BLOCK
        for i in range(0, full, _BLOCK):
            block = self._pending[i : i + _BLOCK]
            self.blocks.append(max(max(block), -min(block)))
        del self._pending[:full]

    def waveform(self) -> bytes:
        """64 values 0..100: the loudest block of each 64th of the sound, relative to the loudest block.

        Relative, as WhatsApp's clients draw it: a quiet recording still shows its shape. Silence is all 0.
        """
        if self._pending:
            self.blocks.append(max(max(self._pending), -min(self._pending)))
            self._pending = array("f")
        blocks = self.blocks
        loudest = max(blocks, default=0.0)
        if not blocks or loudest <= 0:
            return bytes(WAVEFORM_SAMPLES)
        values = []
        for i in range(WAVEFORM_SAMPLES):
            lo = i * len(blocks) // WAVEFORM_SAMPLES
            hi = max(lo + 1, (i + 1) * len(blocks) // WAVEFORM_SAMPLES)
            values.append(round(100 * max(blocks[lo:hi]) / loudest))
        return bytes(min(100, v) for v in values)
