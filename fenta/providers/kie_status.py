"""KIE.ai task states, every family onto one `TaskStatus` (pending | running | succeeded | failed).

Six API families (Market, 4o image, Flux Kontext, Veo, Runway, Suno) spell their states, result fields
and callbacks differently (api-contracts 1.2); fields documented as arrays sometimes arrive as JSON
strings, and callbacks use snake case where status queries use camel case. All of it is read here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProviderError

__all__ = ["TaskStatus", "parse_status", "parse_callback", "is_refusal", "REFUSAL_CODES"]

#: Body/task codes that mean "this request will never be made as it is": content policy (400), an input
#: URL KIE could not fetch (451), Suno lyrics that match existing work (413). Never retried.
REFUSAL_CODES = frozenset({"400", "413", "451"})
_REFUSAL_WORDS = re.compile(
    r"polic|sensitive|moderat|nsfw|prohibit|inappropriate|safety|violat|copyright|flagged|not allowed", re.I
)


@dataclass
class TaskStatus:
    """One task's state, the same for every family.

    Attributes:
        tracks: Suno: one dict per track made so far ({"id", "url", "duration", "title", "tags"}).
    """

    task_id: str
    state: str  # pending | running | succeeded | failed
    urls: list[str] = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None
    credits: float | None = None  # credits KIE says it charged, when it says so
    tracks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.state in ("succeeded", "failed")

    @property
    def refused(self) -> bool:
        """Whether a failure is a refusal of the request itself (content policy, lyrics, an input image
        KIE could not fetch): running it again unchanged would fail the same way."""
        return self.state == "failed" and is_refusal(self.error_code, self.error)


def is_refusal(code: Any, message: str | None) -> bool:
    """A content-policy style refusal, by its code or its words."""
    text = str(code or "")
    return (
        text in REFUSAL_CODES or text == "SENSITIVE_WORD_ERROR" or bool(_REFUSAL_WORDS.search(message or ""))
    )


_MARKET_STATES = {
    "waiting": "pending",
    "queuing": "pending",
    "generating": "running",
    "success": "succeeded",
    "fail": "failed",
}
_RUNWAY_STATES = {
    "wait": "pending",
    "queueing": "pending",
    "generating": "running",
    "success": "succeeded",
    "fail": "failed",
}
_4O_STATES = {
    "GENERATING": "running",
    "SUCCESS": "succeeded",
    "CREATE_TASK_FAILED": "failed",
    "GENERATE_FAILED": "failed",
}
_FLAG_STATES = {0: "running", 1: "succeeded", 2: "failed", 3: "failed"}
#: Suno: FIRST_SUCCESS is one track of two; the task is done at SUCCESS.
_SUNO_STATES = {
    "PENDING": "pending",
    "TEXT_SUCCESS": "running",
    "FIRST_SUCCESS": "running",
    "SUCCESS": "succeeded",
    "CREATE_TASK_FAILED": "failed",
    "GENERATE_AUDIO_FAILED": "failed",
    "CALLBACK_EXCEPTION": "failed",
    "SENSITIVE_WORD_ERROR": "failed",
}
_SUNO_STAGES = {"text": "running", "first": "running", "complete": "succeeded"}


def _json_maybe(value: Any) -> Any:
    """Fields documented as arrays sometimes arrive as JSON strings: accept both."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _url_list(value: Any) -> list[str]:
    value = _json_maybe(value)
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [str(v) for v in value if v]
    return []


def _str_or_none(v: Any) -> str | None:
    return None if v in (None, "") else str(v)


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _float(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _tracks(items: Any) -> list[dict[str, Any]]:
    """Suno tracks from `sunoData` (camel case) or a callback's `data` (snake case)."""
    out = []
    for t in items if isinstance(items, list) else []:
        if not isinstance(t, dict):
            continue
        url = t.get("audioUrl") or t.get("audio_url") or t.get("sourceAudioUrl") or t.get("source_audio_url")
        if url:
            out.append(
                {
                    "id": str(t.get("id") or ""),
                    "url": str(url),
                    "duration": _float(t.get("duration")),
                    "title": t.get("title"),
                    "tags": t.get("tags"),
                }
            )
    return out


def _suno(data: dict[str, Any], tid: str) -> TaskStatus:
    status = str(data.get("status") or "").upper()
    resp = data.get("response") or {}
    tracks = _tracks(resp.get("sunoData") or resp.get("suno_data") if isinstance(resp, dict) else None)
    state = _SUNO_STATES.get(status, "pending")
    if state == "succeeded" and not tracks:
        state = "running"  # SUCCESS with no track yet: the result fields lag behind the status
    code = _str_or_none(data.get("errorCode")) or (status if status == "SENSITIVE_WORD_ERROR" else None)
    error = _str_or_none(data.get("errorMessage")) or (
        status.replace("_", " ").lower() if state == "failed" else None
    )
    urls = [t["url"] for t in tracks] if state == "succeeded" else []
    return TaskStatus(tid, state, urls, error, code, tracks=tracks)


def parse_status(family: str, data: dict[str, Any], task_id: str = "") -> TaskStatus:
    """Map one family's status `data` onto a `TaskStatus`."""
    data = data or {}
    tid = str(data.get("taskId") or data.get("task_id") or task_id)
    if family == "market":
        state = _MARKET_STATES.get(str(data.get("state") or "").lower(), "pending")
        result = _json_maybe(data.get("resultJson")) or {}
        urls = _url_list(result.get("resultUrls")) if isinstance(result, dict) else []
        credits = data.get("creditsConsumed")
        return TaskStatus(
            tid,
            state,
            urls,
            _str_or_none(data.get("failMsg")),
            _str_or_none(data.get("failCode")),
            float(credits) if isinstance(credits, (int, float)) else None,
        )
    if family == "4o-image":
        status = str(data.get("status") or "")
        state = _4O_STATES.get(status) or _FLAG_STATES.get(_int(data.get("successFlag")), "pending")  # type: ignore[arg-type]
        resp = data.get("response") or {}
        urls = _url_list(resp.get("resultUrls") or resp.get("result_urls"))
        return TaskStatus(
            tid, state, urls, _str_or_none(data.get("errorMessage")), _str_or_none(data.get("errorCode"))
        )
    if family in ("flux-kontext", "veo"):
        state = _FLAG_STATES.get(_int(data.get("successFlag")), "pending")  # type: ignore[arg-type]
        resp = data.get("response") or {}
        key = "resultImageUrl" if family == "flux-kontext" else "resultUrls"
        urls = _url_list(resp.get(key) or resp.get("result_urls"))
        return TaskStatus(
            tid, state, urls, _str_or_none(data.get("errorMessage")), _str_or_none(data.get("errorCode"))
        )
    if family == "runway":
        state = _RUNWAY_STATES.get(str(data.get("state") or "").lower(), "pending")
        info = data.get("videoInfo") or {}
        return TaskStatus(
            tid,
            state,
            _url_list(info.get("videoUrl")),
            _str_or_none(data.get("failMsg")),
            _str_or_none(data.get("failCode")),
        )
    if family == "suno":
        return _suno(data, tid)
    raise ProviderError(f"KIE.ai model family '{family}' is not supported", provider="kie")


def parse_callback(family: str, payload: dict[str, Any]) -> TaskStatus:
    """Map a callback body (`{code, msg, data}`) of one family onto a `TaskStatus`.

    Suno calls back in stages (`callbackType` text, first, complete; some may be skipped): only
    `complete` finishes the task. "veo-4k" is the row of a Veo 4K upscale: KIE calls it back under the
    task id of the video it upscales.
    """
    code = _int(payload.get("code"))
    msg = str(payload.get("msg") or payload.get("message") or "")
    data = payload.get("data") or {}
    tid = str(data.get("taskId") or data.get("task_id") or "")
    if family == "market":
        st = parse_status("market", data, tid)
        if code not in (None, 200) and st.state != "failed":
            st.state, st.error = "failed", st.error or msg
        return st
    if code not in (None, 200):
        return TaskStatus(tid, "failed", [], msg or "generation failed", str(code))
    info = data.get("info") or {}
    if family == "suno":
        tracks = _tracks(data.get("data"))
        state = _SUNO_STAGES.get(
            str(data.get("callbackType") or data.get("callback_type") or "").lower(), "running"
        )
        if state == "succeeded" and not tracks:
            state = "running"
        return TaskStatus(
            tid, state, [t["url"] for t in tracks] if state == "succeeded" else [], tracks=tracks
        )
    if family == "4o-image":
        urls = _url_list(info.get("result_urls") or info.get("resultUrls"))
    elif family == "flux-kontext":
        urls = _url_list(info.get("resultImageUrl"))
    elif family in ("veo", "veo-4k"):
        if family == "veo-4k" and ("resolution" in info or "fallbackFlag" in data):
            # a late (repeated) callback of the generation itself: it carries the task id the 4K task has
            return TaskStatus(tid, "running")
        # generate/extend: info.resultUrls; 4K: the same, or snake case beside info (schema) - accept all
        urls = _url_list(info.get("resultUrls") or info.get("result_urls") or data.get("result_urls"))
    elif family == "runway":
        urls = _url_list(data.get("video_url") or data.get("videoUrl"))
    else:
        urls = []
    return TaskStatus(
        tid, "succeeded" if urls else "failed", urls, None if urls else (msg or "callback carried no result")
    )
