"""What every publish node shares: the account, never posting twice, the post's record and its event.

A publish node takes the `Render` output (`video: render.video`) and posts it with one account. Posting
follows the paid nodes' discipline (`fenta.nodes.ai_media`):

1. the post is keyed by (platform, the account's identity, the video's SHA-256, `republish`): the same
   video never goes to the same account twice, whichever job, retry or re-run asks;
2. a finished post under that key is the answer (no request: "already posted");
3. otherwise the platform's resumable handle (YouTube's session URI, TikTok's publish id, Instagram's
   container id) is written to the job store (`ctx.store`, a `JobRecorder`) BEFORE the first byte is
   sent, and a later attempt (a retry, `fenta resume`, a worker after a crash) asks the service about
   that handle first: it continues the upload or finds the post made;
4. the post's id and URL are the node's outputs, kept with the job, and its run adds `video.published
   {jobId, platform, postId, url}` to the log (only the job that made the post says so).

`--republish` (`fenta run`) sets `republish` to a fresh value, which makes a new key: the video is
posted again. A platform module subclasses `PublishNode` with its `platform`, params and `publish`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from ...config import Settings
from ...errors import AccountError, FentaError
from ...hashing import file_sha256
from ...providers.accounts import NAME_PATTERN, TITLES, Account, resolve
from ..base import CheckContext, Node, NodeContext, Params, Ports

__all__ = [
    "PublishParams",
    "PublishInputs",
    "PublishOutputs",
    "PublishNode",
    "Posted",
    "post_key",
    "describe",
    "check_accounts",
]


class PublishParams(Params):
    title: str | None = Field(
        None, description="The post's title (default: the connected `title` input, e.g. script.title)."
    )
    description: str = Field(
        "", description="The post's text; hashtags from the `hashtags` input are added to it."
    )
    tags: list[str] = Field(default_factory=list, description="Tags or hashtags, as the platform takes them.")
    account: str | None = Field(
        None,
        pattern=NAME_PATTERN,
        description=(
            "A connected account's name (`fenta accounts list`); default: the environment's account, else "
            "the one named 'default', else the only one."
        ),
    )
    republish: str | None = Field(
        None,
        description=(
            "Any text: a value not used before posts the video again to an account that already has it "
            "(`fenta run --republish` sets one)."
        ),
    )


class PublishInputs(Ports):
    video: str = Field(description="The rendered video: connect `render.video`.")
    title: str | None = Field(None, description="A title from another node (Script.Gen's `title`).")
    hashtags: list[str] | None = Field(
        None, description="Hashtags from another node (Script.Gen's `hashtags`)."
    )


class PublishOutputs(Ports):
    post_id: str
    url: str
    account: str
    posted_by: str = Field(
        description="The job that made the post (an earlier one when the video was already posted)."
    )


#: What a platform's `publish` returns: the post and what it used.
Posted = dict[str, Any]


def post_key(platform: str, account: Account, video_sha: str, republish: str | None) -> str:
    """The key a post is stored under: one video, one account, one post (unless `republish` differs)."""
    doc = {
        "platform": platform,
        "account": account.identity(),
        "video": video_sha,
        "republish": republish or None,
    }
    return "publish:" + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


class _Memory:
    """A job store stand-in for a node run outside a job (tests, previews): remembers nothing after."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def provider_task(self, key: str) -> dict[str, Any] | None:
        return self.rows.get(key)

    def save_provider_task(
        self,
        *,
        key: str,
        provider: str,
        task_id: str,
        status: str,
        result: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        self.rows[key] = {
            "key": key,
            "provider": provider,
            "task_id": task_id,
            "status": status,
            "result": result or {},
        }

    def update_provider_task(
        self,
        key: str,
        *,
        status: str | None = None,
        result: dict[str, Any] | None = None,
        keep_final: bool = False,
    ) -> None:
        row = self.rows.get(key)
        if row is not None:
            row["status"] = status or row["status"]
            row["result"] = {**row["result"], **(result or {})}


class PublishNode(Node):
    """Base of `Publish.*`: posts `inputs.video` with one account, at most once (see the module)."""

    platform: ClassVar[str]
    Params = PublishParams
    Inputs = PublishInputs
    Outputs = PublishOutputs
    #: Publish nodes are never reused from the cache index: the stored post (keyed by the video and the
    #: resolved account) answers instead, so a re-run finds the post without posting, whatever the cache.
    cacheable = False
    #: The usage unit one post counts as (`fenta usage`; a quota resource counts it).
    post_units: ClassVar[str] = "posts"

    # -- static checks ---------------------------------------------------------------------

    def validate(self, params: Any, ctx: CheckContext) -> list[tuple[str, str]]:
        problems = super().validate(params, ctx)
        if not ctx.policy.trusted:
            title = TITLES[self.platform]
            if params.account:
                problems.append(
                    (
                        "params.account",
                        "an untrusted workflow may not choose the publishing account "
                        f"(the operator's {title} account is used: FENTA_PUBLISH_ACCOUNTS)",
                    )
                )
            elif ctx.policy.publish_account(self.platform) is None:
                problems.append(
                    (
                        "params.account",
                        f"the operator allows untrusted workflows no {title} account "
                        "(FENTA_PUBLISH_ACCOUNTS)",
                    )
                )
        return problems

    def fingerprint(self, params: Any, inputs: Any, *, workflow_file: str | None = None) -> str | None:
        video = Path(inputs.video)
        return file_sha256(video) if video.is_file() else None

    def finished_events(self, output: dict[str, Any], job_id: str) -> list[tuple[str, dict[str, Any]]]:
        if output.get("posted_by") != job_id:
            return []  # found the post an earlier job made: that job said so
        return [
            (
                "video.published",
                {"platform": self.platform, "postId": output["post_id"], "url": output["url"]},
            )
        ]

    # -- running ----------------------------------------------------------------------------

    def account(self, ctx: NodeContext, params: Any) -> Account:
        try:
            return resolve(ctx.settings, self.platform, params.account, ctx.policy)
        except AccountError as e:
            e.node, e.file = ctx.node_id, ctx.workflow_file
            raise

    async def run(self, ctx: NodeContext, params: Any, inputs: Any) -> PublishOutputs:
        video = Path(inputs.video)
        if not video.is_file():
            raise ctx.error(f"the video to post is not a file: {inputs.video}", field="inputs.video")
        account = await self.identified(ctx, self.account(ctx, params))
        sha = await asyncio.to_thread(file_sha256, video)
        key = post_key(self.platform, account, sha, params.republish)
        store = ctx.store if ctx.store is not None else ctx.services.setdefault("publish:memory", _Memory())
        # Two nodes of one run posting the same video to the same account: the second waits, then finds it.
        locks = ctx.services.setdefault("publish:key-locks", {})
        async with locks.setdefault(key, asyncio.Lock()):
            row = store.provider_task(key)
            result = (row or {}).get("result") or {}
            title = TITLES[self.platform]
            if row and row["status"] == "succeeded" and result.get("post_id"):
                if result.get("job_id") != ctx.job_id:
                    ctx.info(
                        f"already posted to {title} ({account.name}) as {result['url']} "
                        f"by job {result.get('job_id')}; "
                        "not posted again (`fenta run --republish` posts it again)"
                    )
                return self._outputs(result, account)
            posted = await self.publish(ctx, params, inputs, account, video, sha, key, row, store)
            record = {
                "post_id": posted["post_id"],
                "url": posted["url"],
                "job_id": ctx.job_id,
                "account": account.name,
                "platform": self.platform,
            }
            billed = bool(result.get("billed"))
            store.update_provider_task(key, status="succeeded", result={**record, "billed": True})
            if not billed:
                ctx.usage.record(self.platform, units=self.post_units, quantity=1)
                for units, quantity in (posted.get("usage") or {}).items():
                    ctx.usage.record(self.platform, units=units, quantity=quantity)
            ctx.info(f"posted to {title} ({account.name}): {posted['url']}")
            return self._outputs(record, account)

    async def identified(self, ctx: NodeContext, account: Account) -> Account:
        """The account with the service's id for it (`uid`, part of the post's key), where a platform
        learns it only from a token (TikTok's `open_id`): the key must not change after the first post."""
        return account

    def _outputs(self, record: dict[str, Any], account: Account) -> PublishOutputs:
        return PublishOutputs(
            post_id=str(record["post_id"]),
            url=str(record["url"]),
            account=str(record.get("account") or account.name),
            posted_by=str(record.get("job_id") or ""),
        )

    async def publish(
        self,
        ctx: NodeContext,
        params: Any,
        inputs: Any,
        account: Account,
        video: Path,
        sha: str,
        key: str,
        row: dict[str, Any] | None,
        store: Any,
    ) -> Posted:
        """Post the video (or finish/find the post `row` started): {post_id, url, usage: {units: n}}.

        Before the first byte, write the platform's handle with `store.save_provider_task(key=key, ...,
        job_id=ctx.job_id, node_id=ctx.node_id)`; with a `row`, ask the service about its handle first.
        """
        raise NotImplementedError

    # -- what a dry run shows ---------------------------------------------------------------

    def plan_line(
        self, params: Any, inputs: dict[str, Any], settings: Settings, policy: Any
    ) -> dict[str, Any]:
        """What `fenta run --dry-run` says this node would post, and where (no network)."""
        try:
            account = resolve(settings, self.platform, params.account, policy)
            who = account.name + (f" ({account.label})" if account.label else "")
        except FentaError as e:
            who = f"none: {e.message}"
        refs = {port: ", ".join(f"{n}.{p}" for n, p in refs) for port, refs in inputs.items()}
        title = params.title or (f"(from {refs['title']})" if refs.get("title") else "(no title)")
        return {
            "platform": self.platform,
            "account": who,
            "privacy": getattr(params, "privacy", ""),
            "title": title,
            "video": refs.get("video", ""),
        }


def check_accounts(workflow: Any, settings: Settings) -> None:
    """Before a run: every publish node has an account it may use (else `AccountError`, exit 2, one
    line naming the node: nothing ran)."""
    for nid, spec in workflow.nodes.items():
        if issubclass(spec.node_class, PublishNode) and spec.parsed_params is not None:
            try:
                resolve(settings, spec.node_class.platform, spec.parsed_params.account, workflow.policy)
            except AccountError as e:
                e.node, e.file = nid, workflow.file
                raise


def describe(line: dict[str, Any]) -> str:
    """A dry run's line for one publish node."""
    return (
        f"{TITLES.get(line['platform'], line['platform'])}: account {line['account']}, {line['privacy']}, "
        f"title {line['title']!r}"
    )
