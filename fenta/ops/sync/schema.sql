-- fenta hosted schema (run once in the Supabase SQL editor, or: psql "$DATABASE_URL" -f schema.sql).
-- Safe to run again.

create table if not exists public.jobs (
  id               text primary key default gen_random_uuid()::text,
  user_id          uuid default auth.uid(),          -- who queued it (null for jobs fenta pushed)
  workflow_name    text,
  status           text not null default 'queued'
                   check (status in ('queued', 'running', 'completed', 'failed', 'dead', 'cancelled')),
  progress         real not null default 0 check (progress >= 0 and progress <= 1),
  current_node     text,
  error            text,
  retryable        boolean,
  attempt          integer not null default 0,
  cost             numeric(12, 4) not null default 0,  -- USD
  duration         real,                               -- seconds of video
  video_path       text,                               -- renders/{id}/{file} in Storage
  thumbnail_path   text,
  srt_path         text,
  stage_timings    jsonb not null default '{}'::jsonb, -- node id -> seconds
  host             text,                               -- the machine that rendered it
  document         jsonb,                              -- the workflow (jobs the web app queues)
  vars             jsonb not null default '{}'::jsonb,
  claimed_by       text,                               -- the hosted worker's claim token
  lease_expires_at timestamptz,                        -- a running job is reclaimable after this
  created_at       timestamptz not null default now(),
  started_at       timestamptz,
  finished_at      timestamptz,
  updated_at       timestamptz not null default now()
);
create index if not exists jobs_status_created on public.jobs (status, created_at);
create index if not exists jobs_user_created on public.jobs (user_id, created_at desc);

create table if not exists public.job_events (
  id         text primary key,                       -- {local job id}:{event id}: pushing twice adds nothing
  job_id     text not null references public.jobs (id) on delete cascade,
  type       text not null,                          -- job.started, job.progress, node.finished, ...
  data       jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
create index if not exists job_events_job on public.job_events (job_id, created_at);

create table if not exists public.usage_records (
  id         text primary key,                       -- {local job id}:{record id}
  job_id     text references public.jobs (id) on delete cascade,
  node_id    text,
  provider   text not null,
  model      text,
  units      text,
  quantity   double precision,
  cost       numeric(12, 6),
  created_at timestamptz not null default now()
);
create index if not exists usage_records_job on public.usage_records (job_id);

create or replace function public.fenta_touch_updated_at() returns trigger
language plpgsql set search_path = '' as $$
begin
  new.updated_at := now();
  return new;
end $$;
drop trigger if exists jobs_touch_updated_at on public.jobs;
create trigger jobs_touch_updated_at before update on public.jobs
  for each row execute function public.fenta_touch_updated_at();

-- Renders: private; signed URLs for sharing.
insert into storage.buckets (id, name, public)
values ('renders', 'renders', false)
on conflict (id) do nothing;

-- Live progress on the web page (Supabase Realtime follows the jobs table).
do $$
begin
  if not exists (
    select 1 from pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'jobs'
  ) then
    alter publication supabase_realtime add table public.jobs;
  end if;
end $$;

-- Row-level security: users see and queue their own jobs; fenta's service key bypasses RLS.
-- (select auth.uid()) is evaluated once per statement, not once per row (Supabase's advice).
alter table public.jobs enable row level security;
alter table public.job_events enable row level security;
alter table public.usage_records enable row level security;

drop policy if exists "jobs: owners read" on public.jobs;
create policy "jobs: owners read" on public.jobs
  for select to authenticated using (user_id = (select auth.uid()));

drop policy if exists "jobs: owners queue" on public.jobs;
create policy "jobs: owners queue" on public.jobs
  for insert to authenticated with check (user_id = (select auth.uid()) and status = 'queued');

drop policy if exists "jobs: owners cancel" on public.jobs;
create policy "jobs: owners cancel" on public.jobs
  for update to authenticated using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()) and status = 'cancelled');

-- fenta pushing with a user's token (FENTA_API_TOKEN): that user's own rows without a workflow.
drop policy if exists "jobs: owners push" on public.jobs;
create policy "jobs: owners push" on public.jobs
  for insert to authenticated with check (user_id = (select auth.uid()) and document is null);
drop policy if exists "jobs: owners update pushed" on public.jobs;
create policy "jobs: owners update pushed" on public.jobs
  for update to authenticated using (user_id = (select auth.uid()) and document is null)
  with check (user_id = (select auth.uid()) and document is null);

drop policy if exists "job_events: owners read" on public.job_events;
create policy "job_events: owners read" on public.job_events
  for select to authenticated using (
    exists (select 1 from public.jobs j where j.id = job_events.job_id and j.user_id = (select auth.uid())));

drop policy if exists "usage_records: owners read" on public.usage_records;
create policy "usage_records: owners read" on public.usage_records
  for select to authenticated using (
    exists (select 1 from public.jobs j where j.id = usage_records.job_id and j.user_id = (select auth.uid())));

drop policy if exists "job_events: owners push" on public.job_events;
create policy "job_events: owners push" on public.job_events
  for all to authenticated
  using (exists (select 1 from public.jobs j where j.id = job_events.job_id and j.user_id = (select auth.uid())))
  with check (exists (select 1 from public.jobs j where j.id = job_events.job_id and j.user_id = (select auth.uid())));

drop policy if exists "usage_records: owners push" on public.usage_records;
create policy "usage_records: owners push" on public.usage_records
  for all to authenticated
  using (exists (select 1 from public.jobs j where j.id = usage_records.job_id and j.user_id = (select auth.uid())))
  with check (exists (select 1 from public.jobs j where j.id = usage_records.job_id and j.user_id = (select auth.uid())));

-- Renders pushed with a user's token (FENTA_API_TOKEN). Where the SQL editor's role does not own
-- storage.objects, Supabase refuses these: everything else still applies and a warning says so.
do $fenta$
begin
  drop policy if exists "renders: owners read" on storage.objects;
  create policy "renders: owners read" on storage.objects
    for select to authenticated using (
      bucket_id = 'renders'
      and exists (select 1 from public.jobs j where j.id = (storage.foldername(name))[1] and j.user_id = (select auth.uid())));

  drop policy if exists "renders: owners upload" on storage.objects;
  create policy "renders: owners upload" on storage.objects
    for insert to authenticated with check (
      bucket_id = 'renders'
      and exists (select 1 from public.jobs j where j.id = (storage.foldername(name))[1] and j.user_id = (select auth.uid())));
  drop policy if exists "renders: owners replace" on storage.objects;
  create policy "renders: owners replace" on storage.objects
    for update to authenticated using (
      bucket_id = 'renders'
      and exists (select 1 from public.jobs j where j.id = (storage.foldername(name))[1] and j.user_id = (select auth.uid())));
exception when insufficient_privilege then
  raise warning 'fenta: the renders/ storage policies were not created (%). Only pushes with a user''s token (FENTA_API_TOKEN) need them: add them under Storage > Policies in the dashboard, as in `fenta sync sql`', sqlerrm;
end
$fenta$;

grant select, insert, update on public.jobs to authenticated;
grant select, insert, update on public.job_events, public.usage_records to authenticated;
grant all on public.jobs, public.job_events, public.usage_records to service_role;
