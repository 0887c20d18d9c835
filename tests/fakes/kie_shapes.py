"""What the fake KIE.ai answers, family by family (api-contracts 1.2-1.9): status `data`, callback bodies and
the media its result URLs serve. The server itself (routes, state, faults) is `tests/fakes/kie.py`."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import lavfi

_MEDIA_DIR = Path(tempfile.mkdtemp(prefix="fake-kie-media-"))
_media_lock = threading.Lock()
_COLOURS = ["0x3366cc", "0xcc6633", "0x33aa55", "0xaa3399", "0xddbb22", "0x22aaaa"]

#: Suno tracks the fake makes: (seconds, tone); two per request, as Suno does.
SUNO_TRACKS = ((3.0, 440), (6.0, 330))
#: Why each family fails a task the fake refuses on content grounds (`next_outcomes = ["policy"]`).
POLICY_MESSAGE = "Your prompt was flagged by the content policy"


def media(kind: str, variant: int = 0) -> Path:
    """A tiny real PNG (image), 2-second MP4 (video), 4-second MP4 (video-long, an extended clip) or MP3
    (audio: the Suno tracks' lengths), made once per test session per variant.

    Variants differ in colour (or tone), as real generations differ: equal files would be one cache blob.
    """
    n = variant % len(_COLOURS)
    with _media_lock:
        if kind == "image":
            p = _MEDIA_DIR / f"result-{n}.png"
            if not p.exists():
                lavfi(p, f"color=c={_COLOURS[n]}:s=180x320:d=1,drawgrid=w=30:h=30:c=white", "-frames:v", "1")
        elif kind == "audio":
            seconds, tone = SUNO_TRACKS[variant % len(SUNO_TRACKS)]
            p = _MEDIA_DIR / f"track-{variant % len(SUNO_TRACKS)}.mp3"
            if not p.exists():
                lavfi(p, f"sine=frequency={tone}:duration={seconds}", "-c:a", "libmp3lame", "-b:a", "64k")
        else:
            seconds = 4 if kind == "video-long" else 2
            p = _MEDIA_DIR / f"result-{n}-{seconds}s.mp4"
            if not p.exists():
                balance = f"colorbalance=rs={0.1 * n - 0.3:.1f}"
                lavfi(
                    p,
                    f"testsrc2=s=180x320:r=15:d={seconds},{balance}",
                    "-pix_fmt",
                    "yuv420p",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                )
        return p


@dataclass
class FakeTask:
    task_id: str
    family: str
    body: dict[str, Any]
    outcome: str  # success | fail | never | policy | lyrics
    polls: int = 0
    forced: str | None = None  # set by finish()/fail()
    created: float = field(default_factory=time.time)
    parent: str | None = None  # Veo extend: the task it continues
    charged: bool = False

    @property
    def kind(self) -> str:
        model = str(self.body.get("model", ""))
        if self.family == "suno":
            return "audio"
        if self.parent:
            return "video-long"
        if self.family in ("veo", "runway") or "video" in model:
            return "video"
        return "image"


def status_data(
    t: FakeTask, state: str, url: str, urls: list[str], *, as_string: bool = False, credits: float = 5.0
) -> dict[str, Any]:
    """The `data` of a status query for task `t` in `state` (waiting | running | success | fail | policy).
    `as_string`: Veo's resultUrls as a JSON string (the quickstart's shape) instead of an array.
    `credits`: what a Market task reports it consumed."""
    ok, failed, policy = state == "success", state in ("fail", "policy", "lyrics"), state == "policy"
    why = POLICY_MESSAGE if policy else "Internal server error"
    if t.family == "market":
        return {
            "taskId": t.task_id,
            "model": t.body.get("model"),
            "state": {"waiting": "waiting", "running": "generating"}.get(state, "fail" if failed else state),
            "param": json.dumps(t.body),
            "resultJson": json.dumps({"resultUrls": [url]}) if ok else "",
            "failCode": ("400" if policy else "500") if failed else "",
            "failMsg": why if failed else "",
            "createTime": int(t.created * 1000),
            "updateTime": int(time.time() * 1000),
            **({"costTime": 1000, "creditsConsumed": credits} if ok else {}),
        }
    if t.family == "4o-image":
        return {
            "taskId": t.task_id,
            "paramJson": json.dumps(t.body),
            "createTime": int(t.created * 1000),
            "response": {"resultUrls": [url]} if ok else None,
            "successFlag": 1 if ok else (2 if failed else 0),
            "status": "SUCCESS" if ok else ("GENERATE_FAILED" if failed else "GENERATING"),
            "errorCode": (400 if policy else 500) if failed else None,
            "errorMessage": (why if failed else ""),
            "progress": "1.00" if ok else "0.40",
        }
    if t.family in ("flux-kontext", "veo"):
        if t.family == "flux-kontext":
            resp: dict[str, Any] = {"originImageUrl": url, "resultImageUrl": url}
        else:
            # the contract's discrepancy: resultUrls as an array (schema) or a JSON string (quickstart)
            result: Any = json.dumps(urls) if as_string else urls
            resp = {"taskId": t.task_id, "resultUrls": result, "originUrls": [], "resolution": "720p"}
        return {
            "taskId": t.task_id,
            "paramJson": json.dumps(t.body),
            "createTime": "2025-06-06 10:27:40",
            "response": resp if ok else None,
            "successFlag": 1 if ok else (3 if failed else 0),
            "errorCode": (400 if policy else 501) if failed else None,
            "errorMessage": (why if policy else "generation failed") if failed else "",
        }
    if t.family == "suno":
        return suno_data(t, state, urls)
    return {  # runway
        "taskId": t.task_id,
        "parentTaskId": "",
        "generateParam": {"prompt": t.body.get("prompt"), "imageUrl": t.body.get("imageUrl", "")},
        "state": {"waiting": "wait", "running": "generating"}.get(state, "fail" if failed else state),
        "generateTime": "2024-05-01 10:02:11",
        "videoInfo": {"videoId": "v-1", "taskId": t.task_id, "videoUrl": url, "imageUrl": url}
        if ok
        else None,
        "failCode": 400 if failed else None,
        "failMsg": ("moderation: " + why) if failed else "",
        "expireFlag": 0,
    }


def suno_tracks(urls: list[str], snake: bool = False) -> list[dict[str, Any]]:
    out = []
    for i, (u, (seconds, _)) in enumerate(zip(urls, SUNO_TRACKS)):
        if snake:
            out.append(
                {
                    "id": f"trk-{i + 1}",
                    "audio_url": u,
                    "stream_audio_url": u,
                    "image_url": "",
                    "prompt": "",
                    "model_name": "chirp-v4-5",
                    "title": "Fake Bed",
                    "tags": "calm",
                    "createTime": 0,
                    "duration": seconds,
                }
            )
        else:
            out.append(
                {
                    "id": f"trk-{i + 1}",
                    "audioUrl": u,
                    "streamAudioUrl": u,
                    "imageUrl": "",
                    "prompt": "",
                    "modelName": "chirp-v4-5",
                    "title": "Fake Bed",
                    "tags": "calm",
                    "createTime": "2025-01-01 00:00:00",
                    "duration": seconds,
                }
            )
    return out


def suno_data(t: FakeTask, state: str, urls: list[str]) -> dict[str, Any]:
    """Suno's record-info: PENDING -> TEXT_SUCCESS -> FIRST_SUCCESS (one track) -> SUCCESS (both)."""
    if state == "success":
        status, tracks = "SUCCESS", suno_tracks(urls)
    elif state == "first":
        status, tracks = "FIRST_SUCCESS", suno_tracks(urls[:1])
    elif state == "running":
        status, tracks = "TEXT_SUCCESS", []
    elif state == "policy":
        status, tracks = "SENSITIVE_WORD_ERROR", []
    elif state == "lyrics":
        status, tracks = "CREATE_TASK_FAILED", []
    elif state == "fail":
        status, tracks = "GENERATE_AUDIO_FAILED", []
    else:
        status, tracks = "PENDING", []
    code = {"lyrics": 400, "fail": 500}.get(state)
    message = {
        "lyrics": "The lyrics contain copyrighted material",
        "fail": "Internal server error",
        "policy": POLICY_MESSAGE,
    }.get(state)
    return {
        "taskId": t.task_id,
        "parentMusicId": "",
        "param": json.dumps(t.body),
        "response": {"taskId": t.task_id, "sunoData": tracks},
        "status": status,
        "type": "chirp-v4-5",
        "operationType": "generate",
        "errorCode": code,
        "errorMessage": message,
    }


def callback_body(
    t: FakeTask, outcome: str, url: str, urls: list[str], stage: str = "complete"
) -> dict[str, Any]:
    """The family-specific callback body KIE would POST for task `t`."""
    ok = outcome == "success"
    if t.family == "market":
        msg = "Playground task completed successfully." if ok else "Playground task failed."
        return {"code": 200 if ok else 501, "msg": msg, "data": status_data(t, outcome, url, urls)}
    if t.family == "suno":
        if not ok:
            return {
                "code": 400 if outcome == "lyrics" else 500,
                "msg": "The lyrics contain copyrighted material",
                "data": {"callbackType": "error", "task_id": t.task_id, "data": None},
            }
        tracks = {"text": [], "first": suno_tracks(urls[:1], snake=True)}.get(
            stage, suno_tracks(urls, snake=True)
        )
        return {
            "code": 200,
            "msg": "All generated successfully.",
            "data": {"callbackType": stage, "task_id": t.task_id, "data": tracks},
        }
    if not ok:
        return {"code": 500, "msg": "Internal error", "data": {"taskId": t.task_id, "task_id": t.task_id}}
    if t.family == "4o-image":
        return {"code": 200, "msg": "success", "data": {"taskId": t.task_id, "info": {"result_urls": [url]}}}
    if t.family == "flux-kontext":
        return {
            "code": 200,
            "msg": "BFL image generated successfully.",
            "data": {"taskId": t.task_id, "info": {"originImageUrl": url, "resultImageUrl": url}},
        }
    if t.family == "veo":
        return {
            "code": 200,
            "msg": "Veo3.1 video generated successfully.",
            "data": {
                "taskId": t.task_id,
                "info": {"resultUrls": [url], "resolution": "720p"},
                "fallbackFlag": False,
            },
        }
    return {
        "code": 200,
        "msg": "success",
        "data": {"task_id": t.task_id, "video_id": "v-1", "video_url": url, "image_url": url},
    }
