"""The hosted schema: the SQL a user runs once in their Supabase project (`fenta sync sql`).

Tables `jobs`, `job_events` and `usage_records`, the private `renders` bucket, `jobs` in the
`supabase_realtime` publication (the web page follows a job live) and row-level security: a signed-in
user reads, queues and cancels their own jobs, and may push their own fenta jobs (rows without a
workflow, their events, usage and renders) with their token (FENTA_API_TOKEN); the service key
(hosted workers, pushes without a token) bypasses RLS. Only the service key can claim a queued job.

Every statement can run twice (re-running the script after an upgrade changes nothing it made).

Rows fenta writes: `id` is the local job id for jobs fenta ran on its own, the row's own id for jobs
the web app queued. A job the web app queues carries `document` (the workflow, either shape) and
`vars`; a hosted worker claims it by setting `status` to running and `claimed_by`/`lease_expires_at`
(a conditional update: only one worker's update matches), renews `lease_expires_at` while it renders,
and another worker may take the job over once the lease has expired.
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["SCHEMA_SQL", "TABLES", "BUCKET"]

#: The Storage bucket artifacts go to (`renders/{job_id}/{file}`).
BUCKET = "renders"
#: The hosted tables fenta writes.
TABLES = ("jobs", "job_events", "usage_records")

#: The script itself lives beside this module, as SQL: `schema.sql`.
SCHEMA_SQL = files("fenta.ops.sync").joinpath("schema.sql").read_text(encoding="utf-8")
