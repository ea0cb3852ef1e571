"""The server's log as an operator reads it: ``--log-format json`` gives one JSON object per line, and each
status's way through the gateway (fetched, converted, trimmed, sent) is there at INFO with its id and
durations; ``--log-level warning`` leaves the INFO lines out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import ALL, NAMED, Instance, server_in, statistic
from tests.support import FileServer, base_env, cli_json, wait_for, wav_bytes

SHAPES = (ALL,)
SHAPES_REASON = "the log is written by the same code in every shape; what is tested is its format and lines"


@pytest.fixture(scope="module")
def env(data_dir: Path, store_settings: dict[str, str]) -> dict[str, str]:
    # a sound longer than the longest kept, so that its trimming is logged
    return base_env(data_dir, log_format="JSON", max_media_seconds=1, **store_settings)


def records(output: str) -> list[dict[str, Any]]:
    """Every line of the server's output, each of which must be one JSON object."""
    lines = [line for line in output.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(record, dict) and {"time", "level", "logger", "message"} <= set(record), line
        parsed.append(record)
    return parsed


def test_a_status_way_through_the_gateway_in_json_lines(
    api: Any, instance: Instance, server: Any, files: FileServer
) -> None:
    url = files.add("/long.wav", wav_bytes(seconds=3), "audio/wav")
    sent = api.statuses.sendVoiceStatus(url, "long.wav", participants=[NAMED[0]])
    assert sent.code == 200, sent.error
    id_message = sent.data["idMessage"]
    wait_for(lambda: statistic(api, id_message), what="the voice status sent")

    def own() -> dict[str, dict[str, Any]] | None:
        lines = [r for r in records(server.output()) if r.get("idMessage") == id_message]
        by_step = {}
        for record in lines:
            for step in ("fetched", "converted", "sent to"):
                if step in record["message"]:
                    by_step[step] = record
        return by_step if len(by_step) == 3 else None

    steps = wait_for(own, what="the status's lifecycle lines")
    fetched, converted, sent_line = steps["fetched"], steps["converted"], steps["sent to"]
    assert fetched["level"] == "INFO" and fetched["sourceBytes"] == len(wav_bytes(seconds=3))
    assert isinstance(fetched["fetchMs"], float)
    assert (converted["from"], converted["to"]) == ("audio/wav", "audio/ogg")
    assert "trimmed 3 s → 1 s" in converted["message"], converted
    assert converted["sourceSeconds"] == pytest.approx(3, abs=0.05)
    assert converted["keptSeconds"] == pytest.approx(1, abs=0.05)
    assert sent_line["instance"] == instance.id and sent_line["recipients"] == 1
    assert sent_line["sendMs"] >= 0
    assert instance.token not in server.output()


def test_warning_level_leaves_the_lifecycle_out(
    tmp_path: Path, make_client: Callable[..., Any], files: FileServer
) -> None:
    env = base_env(tmp_path / "data", log_level="warning")
    with server_in(ALL, env, tmp_path / "server.log") as quiet:
        created = cli_json(quiet.env, "instance", "create", "--authorized")
        api = make_client(int(created["idInstance"]), created["apiTokenInstance"], quiet.url)
        broken = api.statuses.sendVoiceStatus(files.url("/missing.wav"), "missing.wav")
        assert broken.code == 200, broken.error

        def failure_logged() -> bool:
            return broken.data["idMessage"] in quiet.output()

        wait_for(failure_logged, what="the failed preparation's warning")
        output = quiet.output()
    assert " INFO " not in output, output[-2000:]
    # the server's start and every request would have been an INFO line
    assert f"status {broken.data['idMessage']} of instance" in output and " WARNING " in output


def test_a_stopping_server_says_which_conversion_it_waits_for(tmp_path: Path, files: FileServer) -> None:
    from tests.mediagen import noise_frames, write_video

    # MPEG-4 Part 2 is re-encoded to H.264: a few seconds of work for this machine, time to stop meanwhile
    video = write_video(
        tmp_path / "long.mp4",
        container="mp4",
        video_codec="mpeg4",
        seconds=60,
        width=640,
        height=360,
        fps=25,
        frames=noise_frames(640, 360, 8),
    )
    url = files.add("/long.mp4", video.read_bytes(), "video/mp4")
    env = base_env(tmp_path / "data")
    server = server_in(ALL, env, tmp_path / "server.log").start()
    try:
        created = cli_json(server.env, "instance", "create", "--authorized")
        path = f"/waInstance{created['idInstance']}/sendMediaStatus/{created['apiTokenInstance']}"
        answer = httpx.post(server.url + path, json={"urlFile": url, "fileName": "long.mp4"}, timeout=30)
        id_message = answer.json()["idMessage"]
        wait_for(lambda: f"status {id_message}: fetched" in server.output(), what="the fetch logged")
        assert server.terminate(timeout=120) in (0, -15)
    finally:
        server.kill()
    output = server.output()
    assert f"stopping: waiting for the conversion of status {id_message} to end" in output, output[-3000:]
