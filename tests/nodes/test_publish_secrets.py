"""Publishing tokens and client secrets (YouTube, TikTok, Instagram) go nowhere: not fenta.db (jobs, events,
outbox bodies, provider tasks), not the logs, not webhook bodies, not the hosted project's rows, even when a
post fails."""

from __future__ import annotations

import json
import os

import pytest

from fenta.config import Settings
from tests.fakes.google_oauth import CLIENT_SECRET
from tests.fakes.instagram_publishing import instagram_posting_fake  # noqa: F401  (fixture)
from tests.fakes.supabase import supabase_fake  # noqa: F401  (fixture)
from tests.fakes.tiktok import CLIENT_SECRET as TIKTOK_SECRET
from tests.fakes.tiktok_posting import tiktok_posting_fake  # noqa: F401  (fixture)
from tests.fakes.youtube import youtube_fake  # noqa: F401  (fixture)
from tests.nodes.publish_workflow import publish_workflow
from tests.nodes.test_publish_youtube import workflow
from tests.ops.receiver import Receiver


def test_no_token_or_client_secret_reaches_the_database_logs_webhooks_or_hosted_rows(
    youtube_fake, supabase_fake, write, cli, fenta_home
):
    with Receiver() as rx:
        added = cli(
            "webhooks", "add", rx.url, "--events", "job.completed,job.failed,video.published", "--json"
        )
        rx.secret = json.loads(added.stdout)["secret"]
        wf = workflow(write)
        ok = cli("run", wf, "-o", "out", "--yes", "--sync")
        assert ok.exit_code == 0, ok.output
        youtube_fake.put_faults = [{"expire_token": True}, {"expire_token": True}]
        failed = cli("run", wf, "-o", "out", "--yes", "--sync", "--republish")
        assert failed.exit_code == 1 and "connect the account again" in failed.stderr
        rx.wait_for(3)
    secrets = [os.environ["FENTA_YOUTUBE_REFRESH_TOKEN"], CLIENT_SECRET, *youtube_fake.access]
    assert len(secrets) >= 4  # the refresh token, the secret, and every access token the fake issued
    home = Settings.from_env().home
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file() and "accounts" not in p.parts)
    bodies = [r.body.decode() for r in rx.requests]
    hosted = json.dumps({name: list(rows.values()) for name, rows in supabase_fake.tables.items()})
    assert "video.published" in hosted and any('"published"' in b for b in bodies)  # the places were written
    for secret in secrets:
        assert secret.encode() not in stored, "a token in FENTA_HOME (fenta.db, its WAL, logs, cache)"
        assert not any(secret in b for b in bodies), "a token in a webhook body"
        assert secret not in hosted, "a token in a hosted row"


@pytest.mark.parametrize("platform", ["tiktok", "instagram"])
def test_no_tiktok_or_instagram_token_reaches_the_database_webhooks_or_hosted_rows(
    platform, request, supabase_fake, write, cli
):
    fake = request.getfixturevalue(f"{platform}_posting_fake")
    with Receiver() as rx:
        added = cli("webhooks", "add", rx.url, "--events", "job.completed,video.published", "--json")
        rx.secret = json.loads(added.stdout)["secret"]
        wf = publish_workflow(write, f"Publish.{'TikTok' if platform == 'tiktok' else 'Instagram'}")
        ok = cli("run", wf, "-o", "out", "--yes", "--sync")
        assert ok.exit_code == 0, ok.output
        rx.wait_for(2)
    if platform == "tiktok":
        secrets = [os.environ["FENTA_TIKTOK_REFRESH_TOKEN"], TIKTOK_SECRET, *fake.access, *fake.dead]
    else:
        secrets = [os.environ["FENTA_INSTAGRAM_ACCESS_TOKEN"], *fake.tokens]
    home = Settings.from_env().home
    stored = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file() and "accounts" not in p.parts)
    bodies = [r.body.decode() for r in rx.requests]
    hosted = json.dumps({name: list(rows.values()) for name, rows in supabase_fake.tables.items()})
    assert "video.published" in hosted and any('"published"' in b for b in bodies)
    for secret in secrets:
        assert secret.encode() not in stored, "a token in FENTA_HOME (fenta.db, its WAL, logs, cache)"
        assert not any(secret in b for b in bodies), "a token in a webhook body"
        assert secret not in hosted, "a token in a hosted row"
