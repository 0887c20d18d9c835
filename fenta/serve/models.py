"""The API's request and response bodies (they make the OpenAPI document; examples included)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EXAMPLE_WORKFLOW",
    "JobCreate",
    "WorkflowIn",
    "Artifact",
    "JobSummary",
    "Job",
    "JobPage",
    "Validation",
    "Estimate",
    "ScheduleCreate",
    "ScheduleChange",
    "WebhookCreate",
    "QuotaSet",
    "UploadCreate",
    "Upload",
    "Problem",
]

#: A small workflow that renders offline in seconds (the shape `fenta validate` takes, as JSON).
EXAMPLE_WORKFLOW: dict[str, Any] = {
    "version": 1,
    "name": "hello",
    "vars": {"script": "Deep-sea fish glow in the dark."},
    "nodes": {
        "script": {"type": "Input.Text", "params": {"text": "${vars.script}"}},
        "voice": {"type": "Voice.TTS", "params": {"engine": "espeak"}, "inputs": {"text": "script.text"}},
        "subs": {"type": "Subtitle", "inputs": {"words": "voice.words"}},
        "clips": {"type": "Input.Background", "params": {"style": "gradient", "count": 2}},
        "timeline": {
            "type": "Timeline",
            "inputs": {"clips": "clips.clips", "voice": "voice.audio", "subtitles": "subs.track"},
        },
        "render": {
            "type": "Render",
            "params": {"profile": "360p"},
            "inputs": {"timeline": "timeline.timeline"},
        },
    },
}

_STRICT = ConfigDict(extra="forbid")


class WorkflowIn(BaseModel):
    """A workflow document to check or price."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"workflow": EXAMPLE_WORKFLOW, "vars": {"script": "Hello."}}]},
    )

    workflow: dict[str, Any] = Field(
        description="The workflow document as a JSON object, in either shape (`nodes` as a mapping with "
        "`inputs`, or the builder's `nodes` list with `edges`)."
    )
    vars: dict[str, Any] = Field(
        default_factory=dict, description="Variables over the document's `vars:` defaults."
    )


class JobCreate(WorkflowIn):
    """A job to queue. Send `Idempotency-Key` to make retries of this request safe."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "workflow": EXAMPLE_WORKFLOW,
                    "vars": {"script": "Hello."},
                    "name": "hello",
                    "priority": 0,
                    "preview": False,
                }
            ]
        },
    )

    name: str | None = Field(
        None,
        max_length=120,
        description="Base name of the job's files (a plain file name); default: the workflow's name.",
    )
    priority: int = Field(
        0, ge=-1000, le=1000, description="Higher runs first; equal priorities run oldest first."
    )
    preview: bool = Field(False, description="Render a quick 360p draft (`NAME.preview.mp4`).")


class Artifact(BaseModel):
    name: str = Field(description="The file's name; the last part of `url`.")
    kind: str = Field(description="video, thumbnail, subtitles, captions, timeline, ...")
    size: int | None = Field(None, description="Bytes.")
    duration: float | None = Field(None, description="Seconds (media only).")
    url: str = Field(
        description="Where to download it (`GET /v1/jobs/{id}/artifacts/{name}`; Range requests work)."
    )


class JobSummary(BaseModel):
    """A job in a list: its state, progress and cost."""

    id: str
    status: Literal["queued", "running", "failed", "completed", "dead", "cancelled"]
    workflow: str
    progress: float = Field(description="0 to 1.")
    current_node: str | None = None
    priority: int = 0
    attempt: int = Field(0, description="Attempts started so far.")
    cost: float = Field(0.0, description="USD spent on providers.")
    error: str | None = None
    retryable: bool | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    next_attempt_at: str | None = Field(None, description="When a failed job is tried again.")
    schedule: str | None = Field(None, description="The schedule that queued it, if any.")
    links: dict[str, str] = Field(default_factory=dict)


class Job(JobSummary):
    """A job: its state, progress, node timings, attempts, cost and files."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "20261207-171002-ab12cd",
                    "status": "running",
                    "workflow": "hello",
                    "progress": 0.5,
                    "current_node": "render",
                    "priority": 0,
                    "attempt": 1,
                    "cost": 0.0,
                    "error": None,
                    "retryable": None,
                    "created_at": "2026-12-07T17:10:02.113Z",
                    "started_at": "2026-12-07T17:10:02.410Z",
                    "finished_at": None,
                    "next_attempt_at": None,
                    "nodes": [
                        {
                            "node": "voice",
                            "type": "Voice.TTS",
                            "status": "completed",
                            "runs": 1,
                            "seconds": 1.84,
                            "offset": 0.02,
                        }
                    ],
                    "attempts": [
                        {
                            "attempt": 1,
                            "started_at": "2026-12-07T17:10:02.410Z",
                            "ended_at": None,
                            "outcome": "running",
                        }
                    ],
                    "artifacts": [],
                    "links": {"self": "http://127.0.0.1:8000/v1/jobs/20261207-171002-ab12cd"},
                }
            ]
        }
    )

    nodes: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Per node: status, runs, seconds, offset (seconds after the job started), error.",
    )
    attempts: list[dict[str, Any]] = Field(
        default_factory=list, description="Each attempt's start, end, outcome and the wait before the next."
    )
    artifacts: list[Artifact] = Field(default_factory=list)
    missing_keys: list[str] | None = Field(
        None, description="On creation: API keys the workflow needs that this server lacks."
    )


class JobPage(BaseModel):
    items: list[JobSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class Validation(BaseModel):
    valid: bool
    name: str | None = None
    nodes: list[str] = Field(default_factory=list)
    template: str | None = None
    keys: list[dict[str, Any]] = Field(
        default_factory=list, description="API keys the workflow needs, and whether this server has each."
    )
    problems: list[dict[str, Any]] = Field(
        default_factory=list, description="Every problem, each with detail, pointer, node, field and line."
    )


class Estimate(BaseModel):
    """What a run would cost, which keys it needs, and whether the quotas let it run: the step before a
    user confirms."""

    workflow: str
    cost: dict[str, float] = Field(description="USD by provider.")
    total_usd: float
    kie_credits: float = 0.0
    keys: list[dict[str, Any]]
    missing_keys: list[str]
    within_quota: bool
    quota_problem: str | None = None


class ScheduleCreate(WorkflowIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "daily-fish",
                    "cron": "0 9 * * *",
                    "tz": "Europe/Berlin",
                    "workflow": EXAMPLE_WORKFLOW,
                }
            ]
        },
    )

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="Letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit).",
    )
    cron: str = Field(description="Five crontab fields (`0 9 * * *`) or @hourly, @daily, @weekly, @monthly.")
    tz: str = Field("UTC", description="IANA time zone of the cron times.")
    priority: int = Field(0, ge=-1000, le=1000)
    catchup: Literal["latest", "all", "none"] = Field(
        "latest", description="Fire times missed while no scheduler ran."
    )


class ScheduleChange(BaseModel):
    model_config = _STRICT

    enabled: bool = Field(description="false pauses the schedule, true resumes it from now.")


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": "https://hooks.example.com/fenta", "events": ["job.completed", "job.failed"]}
            ]
        },
    )

    url: str = Field(description="The receiver (http or https; a public address).")
    events: list[str] | None = Field(
        None, description="Event types; default job.started, job.completed, job.failed, quota.warning."
    )
    secret: str | None = Field(
        None, description="A `whsec_` secret to sign with; default: a new one, returned once."
    )


class QuotaSet(BaseModel):
    model_config = _STRICT

    limit: float = Field(ge=0, description="The most the resource may use per period.")
    per: Literal["day", "month"] = "month"


class UploadCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"filename": "intro.mp4", "size": 1048576, "tags": ["intro"]}]},
    )

    filename: str = Field(max_length=200, description="The file's name (its extension tells the media kind).")
    size: int = Field(gt=0, description="Bytes the PUT will send (at most the server's upload limit).")
    tags: list[str] = Field(default_factory=list)


class Upload(BaseModel):
    id: str
    state: Literal["pending", "receiving", "uploaded", "completed"]
    filename: str
    size: int
    upload_url: str | None = Field(
        None, description="PUT the bytes here, once, before `expires_at` (no Authorization header needed)."
    )
    complete_url: str | None = None
    expires_at: str | None = None
    asset: dict[str, Any] | None = Field(None, description="The library asset once completed.")


class Problem(BaseModel):
    """An RFC 9457 problem document (`application/problem+json`)."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None
