"""The sign-in flows end to end, against fake authorization servers over real sockets: the browser is
a test client that follows the consent page's redirect to fenta's loopback receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from fenta.config import Settings
from fenta.errors import AccountError
from fenta.providers import google, instagram_auth, tiktok_auth
from fenta.providers.accounts import AccountStore
from fenta.providers.tokens import fresh
from tests.conftest import REPO
from tests.fakes.google_oauth import CLIENT_ID, CLIENT_SECRET, UPLOAD, YOUTUBE
from tests.fakes.instagram import APP_ID, APP_SECRET, IG_USER, instagram_fake  # noqa: F401  (fixture)
from tests.fakes.tiktok import (
    CLIENT_KEY,
    tiktok_fake,  # noqa: F401  (fixture)
)
from tests.fakes.tiktok import CLIENT_SECRET as TIKTOK_SECRET
from tests.fakes.youtube import youtube_fake  # noqa: F401  (fixture)


def browser(answers: list[httpx.Response]):
    """A `show` that opens the page like a browser would: in the background, following redirects."""

    def show(url: str) -> None:
        threading.Thread(
            target=lambda: answers.append(httpx.get(url, follow_redirects=True, timeout=10)), daemon=True
        ).start()

    return show


def test_youtube_loopback_sign_in_stores_the_account_with_the_upload_scope(youtube_fake):
    pages: list[httpx.Response] = []
    account = google.connect_loopback(
        Settings.from_env(),
        name="main",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        show=browser(pages),
        timeout=10,
    )
    assert account.scope == UPLOAD and account.refresh_token in youtube_fake.grants
    assert account.uid == "UCfakeChannel000000000001" and account.label == "Fake Channel"
    consent = next(r for r in youtube_fake.requests if r.path == "/o/oauth2/v2/auth")
    assert consent.q("code_challenge_method") == "S256" and consent.q("redirect_uri").startswith(
        "http://127.0.0.1:"
    )
    assert "Signed in" in pages[0].text


def test_a_refused_consent_is_one_line_and_nothing_is_stored(youtube_fake):
    youtube_fake.consent = "deny"
    with pytest.raises(
        AccountError, match=r"Google refused the sign-in \(access_denied\); nothing was stored"
    ):
        google.connect_loopback(
            Settings.from_env(),
            name="main",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            show=browser([]),
            timeout=10,
        )
    assert not (Settings.from_env().home / "accounts").exists()


def test_a_consent_without_the_upload_scope_is_refused(youtube_fake):
    youtube_fake.granted_scope = "https://www.googleapis.com/auth/youtube.readonly"
    with pytest.raises(AccountError, match="did not allow uploading videos"):
        google.connect_loopback(
            Settings.from_env(),
            name="main",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            show=browser([]),
            timeout=10,
        )


def test_the_device_flow_waits_while_pending_slows_down_when_told_then_gets_the_youtube_scope(youtube_fake):
    youtube_fake.device_interval = 1
    youtube_fake.device_script = ["pending", "pending", "slow_down", "pending"]
    settings = Settings.from_env()
    sleeps: list[float] = []
    shown: list[tuple[str, str]] = []
    account = google.connect_device(
        settings,
        name="tv",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        show=lambda url, code: shown.append((url, code)),
        sleep=sleeps.append,
    )
    assert [round(s / settings.backoff_scale) for s in sleeps] == [1, 1, 1, 6, 6]  # slow_down: +5 s, kept
    assert account.scope == YOUTUBE and account.setup == "device"
    assert shown == [(f"{youtube_fake.url}/device", "GQVQ-JKEC")]
    assert len(youtube_fake.poll_times) == 5


@pytest.mark.parametrize(
    ("answer", "said"), [("denied", "refused on the device page"), ("expired", "the code expired")]
)
def test_a_device_sign_in_refused_or_expired_is_one_line(youtube_fake, answer, said):
    youtube_fake.device_script = [answer]
    with pytest.raises(AccountError, match=said):
        google.connect_device(
            Settings.from_env(),
            name="tv",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            show=lambda url, code: None,
            sleep=lambda s: None,
        )


def test_accounts_connect_device_says_it_asks_for_the_broader_scope(youtube_fake, cli):
    youtube_fake.device_script = ["pending"]
    result = cli("accounts", "connect", "youtube", "--device", "--name", "tv")
    assert result.exit_code == 0, result.output
    assert "broader 'youtube' scope" in result.stderr and "GQVQ-JKEC" in result.stderr
    assert AccountStore(Settings.from_env()).get("youtube", "tv").scope == YOUTUBE


def test_accounts_connect_youtube_through_the_loopback_redirect_in_a_real_process(youtube_fake, fenta_home):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("FENTA_YOUTUBE_REFRESH_TOKEN")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fenta", "accounts", "connect", "youtube", "--no-browser", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = next(line.strip() for line in proc.stderr if line.startswith("http"))
        assert "Signed in" in httpx.get(url, follow_redirects=True, timeout=10).text
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    shown = json.loads(out)
    assert shown["name"] == "default" and shown["has_refresh_token"] and "refresh_token" not in shown
    path = fenta_home / "accounts" / "youtube" / "default.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_tiktok_sign_in_uses_the_hex_challenge_and_stores_the_open_id(tiktok_fake):
    account = tiktok_auth.connect(
        Settings.from_env(),
        name="main",
        client_key=CLIENT_KEY,
        client_secret=TIKTOK_SECRET,
        show=browser([]),
        timeout=10,
    )
    consent = next(r for r in tiktok_fake.requests if r.path == "/v2/auth/authorize/")
    challenge = consent.q("code_challenge")
    assert len(challenge) == 64 and all(c in "0123456789abcdef" for c in challenge)  # hex, not base64url
    assert (
        consent.q("redirect_uri").endswith("/callback/")
        and consent.q("scope") == "user.info.basic,video.publish"
    )
    assert account.uid == "fake-open-id-0001" and account.label == "fakecreator"
    assert account.refresh_token in tiktok_fake.refresh_tokens


def test_tiktok_errors_are_read_from_the_body_whatever_the_http_status(tiktok_fake, monkeypatch):
    tiktok_fake.error_status = 200  # TikTok documents no status for OAuth errors
    monkeypatch.setenv("FENTA_TIKTOK_CLIENT_KEY", CLIENT_KEY)
    account = tiktok_auth.connect(
        Settings.from_env(),
        name="main",
        client_key=CLIENT_KEY,
        client_secret=TIKTOK_SECRET,
        show=browser([]),
        timeout=10,
    )
    tiktok_fake.refresh_tokens.clear()  # revoked
    with pytest.raises(
        AccountError, match="invalid_grant.*connect it again: fenta accounts connect tiktok --name main"
    ):
        fresh(Settings.from_env(), account, force=True)


def test_instagram_facebook_setup_keeps_the_page_token_of_the_linked_account(instagram_fake):
    account = instagram_auth.connect(
        Settings.from_env(),
        name="main",
        app_id=APP_ID,
        app_secret=APP_SECRET,
        setup="facebook",
        show=browser([]),
        timeout=10,
    )
    assert account.uid == IG_USER and account.label == "fakegram"
    assert instagram_fake.tokens[account.access_token] == "page" and account.expires_at is None


def test_instagram_facebook_setup_with_no_linked_page_says_what_to_link(instagram_fake):
    instagram_fake.pages = [{"id": "1", "name": "Lonely Page"}]
    with pytest.raises(AccountError, match="linked to an Instagram professional account"):
        instagram_auth.connect(
            Settings.from_env(),
            name="main",
            app_id=APP_ID,
            app_secret=APP_SECRET,
            show=browser([]),
            timeout=10,
        )


def test_instagram_login_setup_gets_a_long_lived_token_and_refreshes_it_once_a_day_old(instagram_fake):
    settings = Settings.from_env()
    account = instagram_auth.connect(
        settings,
        name="ig",
        app_id=APP_ID,
        app_secret=APP_SECRET,
        setup="instagram",
        show=browser([]),
        timeout=10,
    )
    assert instagram_fake.tokens[account.access_token] == "ig-long" and account.uid == IG_USER
    assert account.expires_at > time.time() + 59 * 86400
    AccountStore(settings).save(account)
    assert fresh(settings, account, force=True).access_token == account.access_token  # younger than a day
    account.connected_at -= 2 * 86400
    account.expires_at = time.time() + 20 * 86400
    AccountStore(settings).save(account)
    renewed = fresh(settings, account)
    assert (
        renewed.access_token != account.access_token
        and instagram_fake.tokens[renewed.access_token] == "ig-long"
    )
    assert AccountStore(settings).get("instagram", "ig").access_token == renewed.access_token


def test_instagram_with_a_registered_https_redirect_takes_the_pasted_address(instagram_fake):
    def paste(prompt: str) -> str:
        return httpx.get(shown[0], follow_redirects=False).headers["Location"]

    shown: list[str] = []
    account = instagram_auth.connect(
        Settings.from_env(),
        name="ig",
        app_id=APP_ID,
        app_secret=APP_SECRET,
        setup="instagram",
        redirect_uri="https://example.com/fenta/",
        show=shown.append,
        ask=paste,
    )
    assert account.label == "fakegram"
