"""A hosted worker's claims: every conditional update it makes on a hosted `jobs` row it takes or holds.

    claim        PATCH ?id=eq.X&status=eq.queued (or running with a lapsed lease): an empty answer means
                 another worker won
    keep_lease   PATCH ?id=eq.X&claimed_by=eq.ME&status=neq.cancelled every third of the lease
    mine         any later update, only while `claimed_by` is still this worker's token
    fail         a row that cannot run ends `failed` with the reason and no lease
    hand_back    a row this machine cannot render goes back to `queued` as it was
    give_back    a render stopped here: the row goes back to `queued` for the next worker

What the worker does between these (rendering, pushing) is `worker.HostedWorker`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from ...config import Settings
from ...engine.events import iso
from ...engine.leases import HOST
from ...engine.store import JobStore
from ...errors import SyncError
from . import state
from .client import Hosted
from .keys import shown_id

__all__ = ["Claims"]

_CLAIM_COLUMNS = "id,status,claimed_by,lease_expires_at,attempt"


class Claims:
    """One hosted worker's claims, made under its `token` with its lease (FENTA_LEASE_SECONDS)."""

    def __init__(self, settings: Settings, token: str, log: Callable[[str], None]) -> None:
        self.settings = settings
        self.token = token
        self.log = log

    @property
    def lease(self) -> float:
        return self.settings.lease_seconds

    async def claim(self, api: Hosted, candidate: dict[str, Any]) -> dict[str, Any] | None:
        """Claim one hosted row with a conditional update; the full row, or None when another worker won."""
        now = time.time()
        values = {
            "status": "running",
            "claimed_by": self.token,
            "lease_expires_at": iso(now + self.lease),
            "host": HOST,
            "started_at": iso(now),
            "attempt": int(candidate.get("attempt") or 0) + 1,
            "progress": 0,
            "error": None,
            "current_node": None,
        }
        if candidate.get("status") == "queued":
            filters = {"id": f"eq.{candidate['id']}", "status": "eq.queued"}
        else:  # a running job whose worker stopped renewing its lease
            filters = {
                "id": f"eq.{candidate['id']}",
                "status": "eq.running",
                "lease_expires_at": f"lt.{iso(now)}",
                "claimed_by": f"eq.{candidate['claimed_by']}" if candidate.get("claimed_by") else "is.null",
            }
        rows = await api.update("jobs", filters, values)
        return rows[0] if rows else None

    async def claim_next(self, api: Hosted, skip: set[str]) -> dict[str, Any] | None:
        """The oldest claimable job (queued with a workflow, or running with a lapsed lease) whose id is
        not in `skip`, claimed."""
        common = {
            "select": _CLAIM_COLUMNS,
            "document": "not.is.null",
            "order": "created_at.asc",
            "limit": "10",
        }
        queued = await api.select("jobs", {**common, "status": "eq.queued"})
        lapsed = await api.select(
            "jobs", {**common, "status": "eq.running", "lease_expires_at": f"lt.{iso(time.time())}"}
        )
        for candidate in [*queued, *lapsed]:
            if str(candidate["id"]) in skip:
                continue
            row = await self.claim(api, candidate)
            if row is not None:
                how = " (its lease had lapsed)" if candidate.get("status") == "running" else ""
                self.log(f"claimed hosted job {shown_id(row['id'])}{how}")
                return row
        return None

    async def mine(self, api: Hosted, remote_id: str, values: dict[str, Any]) -> bool:
        """Update the row while this worker holds it; False when another worker took it over."""
        return bool(
            await api.update("jobs", {"id": f"eq.{remote_id}", "claimed_by": f"eq.{self.token}"}, values)
        )

    async def keep_lease(
        self, api: Hosted, store: JobStore, job_id: str, remote_id: str, task: asyncio.Future
    ) -> str | None:
        """Renew the hosted lease every third of it. When the row was cancelled on the web app or taken
        over by another worker, stop pushing it, stop the render and say which ("cancelled" or "lost")."""
        while not task.done():
            await asyncio.sleep(self.lease / 3)
            try:
                renewed = await api.update(
                    "jobs",
                    {"id": f"eq.{remote_id}", "claimed_by": f"eq.{self.token}", "status": "neq.cancelled"},
                    {"lease_expires_at": iso(time.time() + self.lease)},
                )
                if renewed:
                    continue
                rows = await api.select("jobs", {"select": "status", "id": f"eq.{remote_id}"})
            except SyncError as e:  # offline for a moment: the lease may still hold; try again
                self.log(f"hosted job {remote_id}: lease not renewed: {e}")
                continue
            reason = "cancelled" if rows and rows[0].get("status") == "cancelled" else "lost"
            state.release(store, job_id)  # nothing more of this job goes to the row: it is not ours now
            why = (
                "cancelled on the hosted project" if reason == "cancelled" else "taken over by another worker"
            )
            self.log(f"hosted job {remote_id} was {why}; stopping it here")
            task.cancel()
            return reason
        return None

    async def fail(self, api: Hosted, remote: str, error: str) -> bool:
        """A claimed row that cannot run (bad id, bad workflow, a bug while preparing it) ends `failed` with
        the reason and no lease; whether the row says so. When even that update fails, the claim's lease
        lapses and the next worker takes the row (it is never left `running` without a lease)."""
        self.log(f"hosted job {shown_id(remote)} failed before it ran: {error}")
        values = {
            "status": "failed",
            "error": error,
            "retryable": False,
            "finished_at": iso(time.time()),
            "lease_expires_at": None,
        }
        try:
            return await self.mine(api, remote, values)
        except SyncError as e:
            self.log(f"hosted job {shown_id(remote)}: not marked failed ({e}); its lease lapses")
            return False

    async def hand_back(self, api: Hosted, row: dict[str, Any]) -> None:
        """Put a claimed row back in the hosted queue as it was (best effort: otherwise its lease lapses)."""
        values = {
            "status": "queued",
            "claimed_by": None,
            "lease_expires_at": None,
            "started_at": None,
            "attempt": max(0, int(row.get("attempt") or 1) - 1),
            "progress": 0,
            "current_node": None,
        }
        try:
            await self.mine(api, str(row["id"]), values)
        except SyncError as e:
            self.log(f"hosted job {shown_id(row['id'])}: not given back ({e}); its lease lapses")

    async def give_back(self, api: Hosted, remote: str) -> None:
        """A render stopped here (`HostedWorker.stop(now=True)`): the row goes back to `queued`."""
        given = await self.mine(
            api,
            remote,
            {
                "status": "queued",
                "claimed_by": None,
                "lease_expires_at": None,
                "progress": 0,
                "current_node": None,
            },
        )
        self.log(f"hosted job {remote} {'given back to the hosted queue' if given else 'was no longer ours'}")
