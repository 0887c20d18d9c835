"""`fenta accounts`: list, show (never a token unless --env asks), remove, test, and connect's bad input."""

from __future__ import annotations

import json
import time

import pytest

from fenta.config import Settings
from fenta.providers.accounts import Account, AccountStore
from tests.fakes.google_oauth import CLIENT_ID, CLIENT_SECRET
from tests.fakes.youtube import youtube_fake  # noqa: F401  (fixture)


def _connected(fake, name: str = "brand") -> Account:
    account = Account(
        platform="youtube",
        name=name,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        access_token="ya29.not-yet",
        refresh_token=fake.grant(),
        expires_at=time.time() + 600,
        uid="UCfakeChannel000000000001",
        label="Fake Channel",
    )
    AccountStore(Settings.from_env()).save(account)
    return account


def test_list_says_how_to_connect_when_there_is_no_account(cli, fenta_home):
    result = cli("accounts")
    assert result.exit_code == 0 and "fenta accounts connect youtube" in result.stdout


def test_list_shows_the_environment_account_and_the_connected_ones_without_secrets(youtube_fake, cli):
    account = _connected(youtube_fake)
    listed = json.loads(cli("accounts", "list", "--json").stdout)
    assert [(a["name"], a["source"]) for a in listed] == [("env", "env"), ("brand", "file")]
    text = cli("accounts", "list").stdout + json.dumps(listed)
    assert "Fake Channel" in text and account.refresh_token not in text and CLIENT_SECRET not in text


def test_show_never_prints_a_token_but_env_prints_the_variables_for_ci(youtube_fake, cli):
    account = _connected(youtube_fake)
    shown = cli("accounts", "show", "youtube", "--name", "brand")
    assert shown.exit_code == 0 and "Fake Channel" in shown.stdout and "refresh      stored" in shown.stdout
    assert account.refresh_token not in shown.stdout and account.access_token not in shown.stdout
    exported = cli("accounts", "show", "youtube", "--name", "brand", "--env").stdout.splitlines()
    assert f"FENTA_YOUTUBE_REFRESH_TOKEN={account.refresh_token}" in exported
    assert f"FENTA_YOUTUBE_CLIENT_SECRET={CLIENT_SECRET}" in exported


def test_test_refreshes_the_token_and_names_the_channel(youtube_fake, cli):
    _connected(youtube_fake)
    result = cli("accounts", "test", "youtube", "--name", "brand")
    assert result.exit_code == 0, result.output
    assert "posts as YouTube channel 'Fake Channel'" in result.stdout and youtube_fake.refreshes == 1
    assert AccountStore(Settings.from_env()).get("youtube", "brand").access_token != "ya29.not-yet"


def test_test_of_a_revoked_account_is_one_line_saying_to_connect_again(youtube_fake, cli):
    youtube_fake.revoke(_connected(youtube_fake).refresh_token)
    result = cli("accounts", "test", "youtube", "--name", "brand")
    assert result.exit_code == 2 and result.stderr.strip().count("\n") == 0
    assert "fenta accounts connect youtube --name brand" in result.stderr


def test_remove_forgets_the_tokens_and_says_where_to_revoke_access(youtube_fake, cli):
    _connected(youtube_fake)
    result = cli("accounts", "remove", "youtube", "--name", "brand")
    assert result.exit_code == 0 and "myaccount.google.com/permissions" in result.stdout
    assert AccountStore(Settings.from_env()).get("youtube", "brand") is None
    assert cli("accounts", "remove", "youtube", "--name", "brand").exit_code == 2
    assert "unset" in cli("accounts", "remove", "youtube", "--name", "env").stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["vimeo"], "unknown platform 'vimeo': choose youtube, tiktok, instagram"),
        (["tiktok", "--device"], "--device is for YouTube"),
        (["youtube", "--name", "../x"], "is not an account name"),
        (["youtube", "--name", "env"], "'env' is the account the environment variables describe"),
        (["instagram", "--setup", "myspace", "--client-id", "1"], "unknown setup 'myspace'"),
    ],
)
def test_connect_refuses_bad_input_in_one_line(cli, fenta_home, monkeypatch, args, said):
    monkeypatch.setenv("FENTA_INSTAGRAM_APP_SECRET", "s")
    result = cli("accounts", "connect", *args, "--no-browser")
    assert result.exit_code == 2 and said in result.stderr and result.stderr.strip().count("\n") == 0


def test_connect_without_the_apps_credentials_names_the_variables(cli, fenta_home, monkeypatch):
    result = cli("accounts", "connect", "tiktok", "--no-browser")
    assert result.exit_code == 2 and "FENTA_TIKTOK_CLIENT_KEY" in result.stderr
    monkeypatch.setenv("FENTA_TIKTOK_CLIENT_KEY", "key")
    result = cli("accounts", "connect", "tiktok", "--no-browser")
    assert result.exit_code == 2 and "set FENTA_TIKTOK_CLIENT_SECRET" in result.stderr


def test_connect_reads_googles_client_file(youtube_fake, cli, write, monkeypatch):
    for var in ("FENTA_YOUTUBE_CLIENT_ID", "FENTA_YOUTUBE_CLIENT_SECRET"):
        monkeypatch.delenv(var)
    youtube_fake.device_script = []
    client = write(
        "client_secret.json",
        json.dumps({"installed": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}}),
    )
    result = cli("accounts", "connect", "youtube", "--device", "--client-file", str(client), "--name", "tv")
    assert result.exit_code == 0, result.output
    assert AccountStore(Settings.from_env()).get("youtube", "tv").client_secret == CLIENT_SECRET
    bad = cli("accounts", "connect", "youtube", "--client-file", str(write("x.json", "{}")), "--no-browser")
    assert bad.exit_code == 2 and "is not a Google OAuth client file" in bad.stderr
