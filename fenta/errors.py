"""The exception tree: every error fenta raises on purpose is a `FentaError`.

Each error carries where it happened (file, node id, field) so the CLI can print
one short line and users of the SDK can react programmatically.

Every exception class fenta raises is defined here (and exported by `fenta`); the modules that raise
them import them from here (`tests/test_exported_members.py` keeps it so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "FentaError",
    "SpecError",
    "Problem",
    "NodeError",
    "MediaError",
    "RenderError",
    "ProviderError",
    "AuthError",
    "CreditsError",
    "RateLimitError",
    "QuotaError",
    "ScheduleError",
    "WebhookError",
    "CostLimitError",
    "JobError",
    "TemplateError",
    "FontError",
    "TextError",
    "FFmpegUnusable",
    "InvalidOutputError",
    "OutcomeUnknownError",
    "MissingKeysError",
    "PathError",
    "ComposeError",
    "AssetError",
    "ClusterError",
    "ManifestError",
    "BatchError",
    "SyncError",
    "URLError",
    "InputError",
    "ServeError",
    "AccountError",
    "PublishLimitError",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow, and where it is."""

    message: str
    file: str | None = None
    line: int | None = None
    node: str | None = None
    field: str | None = None

    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.node:
            parts.append(f"node '{self.node}'")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        loc = self.location()
        return f"{loc}: {self.message}" if loc else self.message


class FentaError(Exception):
    """Base of every error fenta raises on purpose.

    Args:
        message: What went wrong, in one sentence a user can act on.
        file: The workflow, template or media file involved.
        node: The node id involved.
        field: The param, port or template field involved.
        retryable: Whether another attempt could succeed as things are (network trouble, a timeout,
            HTTP 429 or 5xx, a crash); a job that fails with a retryable error is retried
            (`fenta.retry`), any other goes straight to `dead`.
        retry_after: Seconds the service asked to wait before another attempt (its `Retry-After`), if
            it said; a job's next attempt waits at least this long.

    Attributes:
        retryable: As above; False unless the error says otherwise.
        retry_after: As above; None when no wait was asked for.
        exit_code: The CLI's exit status for this error (2: bad input, nothing ran).
    """

    exit_code = 1
    retryable: bool = False
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        node: str | None = None,
        field: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.node = node
        self.field = field
        self.retryable = retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        loc = Problem("", file=self.file, node=self.node, field=self.field).location()
        return f"{loc}: {self.message}" if loc else self.message


class SpecError(FentaError):
    """The workflow (or template) is invalid; `problems` lists every issue found."""

    exit_code = 2

    def __init__(self, problems: list[Problem], *, file: str | None = None) -> None:
        self.problems = list(problems)
        first = self.problems[0].message if self.problems else "invalid workflow"
        super().__init__(first, file=file)

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        lines = [f"{len(self.problems)} problems found:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class TemplateError(SpecError):
    """A montage template is unknown or invalid; every problem names the file and the field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        if problems:
            self.file, self.field = problems[0].file, problems[0].field


class FontError(FentaError):
    """A caption font cannot be found (exit 2: bad input)."""

    exit_code = 2


class FFmpegUnusable(FentaError):
    """FENTA_FFMPEG names a binary that is missing, does not run, or lacks what fenta uses (exit 2)."""

    exit_code = 2


class NodeError(FentaError):
    """A node failed while running."""


class TextError(NodeError):
    """The text to speak or align has nothing to say (exit 2: bad input)."""

    exit_code = 2


class MediaError(NodeError):
    """A media file is missing, corrupt or of a kind that cannot be used (exit 2: bad input)."""

    exit_code = 2


#: Lines FFmpeg prints as its threads wind down after the real error: never the cause.
_FFMPEG_BOOKKEEPING = (
    "Task finished with error code",
    "Terminating thread with return code",
    "Decode error rate",
    "Could not open encoder before EOF",
    "Nothing was written into output file",
    "Conversion failed",
)


class RenderError(NodeError):
    """FFmpeg failed; `stderr_tail` holds the last lines it printed."""

    def __init__(self, message: str, *, stderr_tail: str = "", **where) -> None:
        lines = [
            ln
            for ln in stderr_tail.splitlines()
            if ln.strip() and not any(b in ln for b in _FFMPEG_BOOKKEEPING)
        ]
        cause = next(
            (ln for ln in reversed(lines) if "rror" in ln and not ln.startswith("Error :")),
            lines[-1] if lines else "",
        )
        cause = cause.split("] ")[-1].strip()
        if cause:
            message = f"{message}: {cause}"
        super().__init__(message, **where)
        self.stderr_tail = stderr_tail
        #: The complaint itself, without FFmpeg's context ("Invalid data found when processing input").
        self.reason = cause.rsplit(": ", 1)[-1] if cause else "unreadable"
        #: FFmpeg's exit status when it ran (negative: killed by that signal).
        self.returncode: int | None = None
        #: Where FFmpeg's whole output was kept, when the caller asked for a log.
        self.log_path: Path | None = None


class ProviderError(NodeError):
    """An external service answered with an error or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        **where: Any,
    ) -> None:
        super().__init__(message, **where)
        self.provider = provider
        self.status = status


class AuthError(ProviderError):
    """The API key is missing or was refused (HTTP 401/403)."""


class CreditsError(ProviderError):
    """The account is out of credits (HTTP 402)."""


class RateLimitError(ProviderError):
    """Rate limited (HTTP 429) after all retries: always retryable; `retry_after` is the wait the service
    asked for."""

    def __init__(self, message: str, *, provider: str, retry_after: float | None = None, **where: Any):
        super().__init__(message, provider=provider, retry_after=retry_after, retryable=True, **where)


class InvalidOutputError(ProviderError):
    """The model answered, twice, with something that does not fit the requested schema."""


class OutcomeUnknownError(ProviderError):
    """A paid request was sent but its answer never arrived: it may or may not have been accepted."""


class MissingKeysError(AuthError):
    """API keys the workflow needs are not set; `missing` lists every one (exit 2: nothing ran).

    Each entry of `missing` names its provider, variable and nodes (`fenta.engine.keys.KeyNeed`).
    """

    exit_code = 2

    def __init__(self, missing: list, *, file: str | None = None) -> None:
        self.missing = missing
        parts = [f"{k.var} (for {', '.join(k.nodes)})" for k in missing]
        noun = "key is" if len(missing) == 1 else "keys are"
        super().__init__(
            f"{len(missing)} API {noun} not set: {'; '.join(parts)}. "
            "Export them or put them in a .env file; nothing was run",
            provider=", ".join(k.provider for k in missing),
            file=file,
        )


class AccountError(AuthError):
    """A publishing account cannot be used: none connected, an unknown name, a sign-in the service no
    longer accepts (`invalid_grant`: connect again), an account an untrusted workflow may not use, or a
    connect flow that did not finish (denied, expired, a state that does not match). One line saying
    what to run (exit 2: nothing was posted).

    Attributes:
        code: The OAuth error the service answered with (`invalid_grant`, `access_denied`, ...), if any.
    """

    exit_code = 2

    def __init__(self, message: str, *, provider: str, code: str | None = None, **where: Any) -> None:
        super().__init__(message, provider=provider, **where)
        self.code = code


class PublishLimitError(ProviderError):
    """A platform's posting limit is reached (YouTube's project quota or a channel's upload cap,
    Instagram's publishing cap, TikTok's rate limits): not retried blindly; the message says which limit
    and when it resets (`resets_at`, ISO 8601 UTC, when known).

    Attributes:
        limit: The service's name for it (`quotaExceeded`, `uploadLimitExceeded`, ...).
        resets_at: When it resets, if the service says or documents it.
    """

    def __init__(
        self, message: str, *, provider: str, limit: str, resets_at: str | None = None, **where: Any
    ) -> None:
        super().__init__(message, provider=provider, **where)
        self.limit = limit
        self.resets_at = resets_at


class QuotaError(FentaError):
    """A local quota limit would be exceeded (exit 2: nothing ran).

    Attributes:
        resource: `jobs`, `render_minutes`, `kie_credits`, `cost_usd`, or a posting resource
            (`youtube_uploads`, `tiktok_posts`, `instagram_posts`).
        used: What the current period used so far.
        limit: The limit set with `fenta quota set`.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        used: float | None = None,
        limit: float | None = None,
        **where,
    ) -> None:
        super().__init__(message, **where)
        self.resource = resource
        self.used = used
        self.limit = limit


class ScheduleError(FentaError):
    """A schedule is unknown, or its cron expression, time zone or workflow is invalid; names the
    field (exit 2: bad input)."""

    exit_code = 2


class WebhookError(FentaError):
    """A webhook endpoint is unknown, or its URL, secret or event list is invalid; names the field
    (exit 2: bad input)."""

    exit_code = 2


class CostLimitError(FentaError):
    """The estimated cost is above `--max-cost`; nothing was spent."""

    exit_code = 2


class JobError(FentaError):
    """A job id is unknown or the job cannot be resumed."""

    exit_code = 2


class PathError(FentaError):
    """A folder or file fenta must write cannot be used: the output folder or name, or
    `FENTA_HOME` (exit 2: bad input, found before any node runs)."""

    exit_code = 2


class AssetError(FentaError):
    """The asset library was asked for something it cannot do: an unknown asset id or tag, a URL that
    is not http(s), too large, or not media (exit 2: bad input). `retryable`: a download failed in a
    way a later try may not (a network error, HTTP 429 or 5xx)."""

    exit_code = 2


class URLError(FentaError):
    """A URL someone gave fenta may not be fetched: not http(s), not a valid URL (host, IDNA, port),
    too many redirects, or, for untrusted input, a host on a loopback, private, link-local or metadata
    address (`fenta.netguard`; exit 2: bad input).

    Attributes:
        unresolved: The host did not resolve (no DNS answer now), as opposed to a refusal.
    """

    exit_code = 2

    def __init__(self, message: str, *, unresolved: bool = False, **where: Any) -> None:
        super().__init__(message, **where)
        self.unresolved = unresolved


class ClusterError(FentaError):
    """Jobs cannot run on the Dask cluster asked for: dask is not installed, the scheduler cannot be
    reached, or no worker can run jobs (exit 2: found before any row runs). A worker lost in the middle
    of a job fails that attempt with a retryable `ClusterError` instead."""

    exit_code = 2


class ComposeError(FentaError):
    """`fenta new`: the model's workflow still had problems after the last round; `problems` lists
    that round's (exit 1: the sentence was fine, the answer was not)."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])

    def __str__(self) -> str:
        return "\n".join([self.message] + [f"  - {p}" for p in self.problems])


@dataclass(frozen=True)
class RowProblem(Problem):
    """One thing wrong with a row of a batch manifest (`fenta batch`): `row` is 1-based (the first
    row after a CSV header is row 1) and `field` the column or key."""

    row: int | None = None

    def location(self) -> str:
        parts = [self.file] if self.file else []
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)


class ManifestError(SpecError):
    """A batch manifest (`fenta batch WORKFLOW ROWS`) cannot be read, or rows are invalid;
    `problems` lists every one, each naming its row and field (exit 2: nothing ran)."""


class BatchError(FentaError):
    """A batch id is unknown, or the batch cannot be resumed (exit 2)."""

    exit_code = 2


class SyncError(FentaError):
    """Hosted sync could not reach or use the hosted project (Supabase): one line naming the request
    and what the service said (PostgREST's code, message, details and hint; the gateway's 401; Storage's
    real status from its body). `status` is the HTTP (or Storage body) status, None for network trouble;
    `retryable` says whether a later push may succeed as it is. A missing FENTA_API_KEY is bad input
    (exit 2)."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, field=field, retryable=retryable, retry_after=retry_after)
        self.status = status
        self.code = code
        if field is not None:  # a setting is missing or wrong: bad input
            self.exit_code = 2


class InputError(FentaError, ValueError):
    """A number or other value given on the command line or to the SDK is malformed or out of bounds
    (a priority that does not fit 64 bits, a `nan` or `inf` where a finite number is meant); `field`
    names the option or argument (exit 2: found before anything ran)."""

    exit_code = 2


class ServeError(FentaError):
    """`fenta serve` or its access tokens cannot do what was asked: a bad setting, role, scope or expiry, an
    unsafe bind address, a missing extra (exit 2: nothing was started or changed); over HTTP, a request the
    API refuses (`status`, shown as an RFC 9457 problem).

    Args:
        status: The HTTP status the API answers with.
        title: The problem's short, stable title (default: the status's reason phrase).
        headers: Response headers to send with it (`WWW-Authenticate`, `Retry-After`).
        extra: More members of the problem document (`errors`, `reason`, `job_id`).
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.status = status
        self.title = title
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
