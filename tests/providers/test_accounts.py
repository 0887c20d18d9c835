"""Publishing accounts: where they are kept, which one a node gets, and how tokens stay fresh."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest

from fenta.config import Settings
from fenta.errors import AccountError
from fenta.policy import TRUSTED, Policy
from fenta.providers.accounts import Account, AccountStore, resolve
from fenta.providers.tokens import fresh
from tests.fakes.google_oauth import CLIENT_ID, CLIENT_SECRET
from tests.fakes.tiktok import tiktok_fake  # noqa: F401  (fixture)
from tests.fakes.youtube import youtube_fake  # noqa: F401  (fixture)


def _stored(settings: Settings, name: str, *, platform: str = "youtube", **kw) -> Account:
    account = Account(
        platform=platform,
        name=name,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        access_token=f"ya29.stored-{name}",
        refresh_token=f"1//stored-{name}",
        expires_at=time.time() + 3600,
        **kw,
    )
    AccountStore(settings).save(account)
    return account


def _no_env(monkeypatch) -> Settings:
    for var in ("FENTA_YOUTUBE_CLIENT_ID", "FENTA_YOUTUBE_CLIENT_SECRET", "FENTA_YOUTUBE_REFRESH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return Settings.from_env()


def test_an_account_file_is_readable_by_its_owner_only_and_leaves_no_temporary_file(fenta_home):
    settings = Settings.from_env()
    _stored(settings, "main")
    path = AccountStore(settings).path("youtube", "main")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir() if not p.name.startswith(".main.lock")] == ["main.json"]
    assert json.loads(path.read_text())["refresh_token"] == "1//stored-main"


def test_a_node_naming_no_account_gets_the_one_named_default_or_else_the_only_one(fenta_home, monkeypatch):
    settings = _no_env(monkeypatch)
    _stored(settings, "brand")
    assert resolve(settings, "youtube", None, TRUSTED).name == "brand"
    _stored(settings, "default")
    assert resolve(settings, "youtube", None, TRUSTED).name == "default"
    assert resolve(settings, "youtube", "brand", TRUSTED).name == "brand"


def test_several_accounts_and_none_named_is_one_line_listing_them(fenta_home, monkeypatch):
    settings = _no_env(monkeypatch)
    _stored(settings, "brand")
    _stored(settings, "news")
    with pytest.raises(
        AccountError, match=r"several YouTube accounts are connected \(brand, news\): name one"
    ):
        resolve(settings, "youtube", None, TRUSTED)


def test_no_account_at_all_says_how_to_connect_one(fenta_home, monkeypatch):
    with pytest.raises(AccountError, match="run `fenta accounts connect youtube`") as e:
        resolve(_no_env(monkeypatch), "youtube", None, TRUSTED)
    assert e.value.exit_code == 2


def test_an_unknown_name_lists_the_connected_ones(fenta_home, monkeypatch):
    settings = _no_env(monkeypatch)
    _stored(settings, "brand")
    with pytest.raises(AccountError, match=r"no YouTube account named 'nope' \(connected: brand\)"):
        resolve(settings, "youtube", "nope", TRUSTED)


@pytest.mark.parametrize("name", ["../brand", "/etc/passwd", "a" * 300, "#?%"])
def test_a_name_that_is_no_account_name_is_refused_before_any_file_is_looked_up(
    fenta_home, monkeypatch, name
):
    settings = _no_env(monkeypatch)
    _stored(settings, "brand")
    with pytest.raises(AccountError, match="is not an account name") as caught:
        resolve(settings, "youtube", name, TRUSTED)
    assert caught.value.field == "params.account"


def test_the_environment_account_wins_when_a_node_names_none(youtube_fake):
    settings = Settings.from_env()
    _stored(settings, "default")
    chosen = resolve(settings, "youtube", None, TRUSTED)
    assert chosen.source == "env" and chosen.name == "env"


def test_an_environment_refresh_token_without_its_client_names_the_missing_variables(fenta_home, monkeypatch):
    monkeypatch.setenv("FENTA_YOUTUBE_REFRESH_TOKEN", "1//x")
    with pytest.raises(AccountError, match="FENTA_YOUTUBE_CLIENT_ID, FENTA_YOUTUBE_CLIENT_SECRET not set"):
        resolve(Settings.from_env(), "youtube", None, TRUSTED)


def test_an_untrusted_workflow_may_not_name_an_account(fenta_home, monkeypatch):
    monkeypatch.setenv("FENTA_PUBLISH_ACCOUNTS", "youtube:brand")
    settings = Settings.from_env()
    _stored(settings, "brand")
    with pytest.raises(AccountError, match="may not choose the publishing account"):
        resolve(settings, "youtube", "brand", Policy.untrusted(settings))


def test_an_untrusted_workflow_gets_the_account_the_operator_allows(fenta_home, monkeypatch):
    monkeypatch.setenv("FENTA_PUBLISH_ACCOUNTS", "tiktok, youtube:brand")
    settings = _no_env(monkeypatch)
    _stored(settings, "brand")
    _stored(settings, "default")
    assert resolve(settings, "youtube", None, Policy.untrusted(settings)).name == "brand"


def test_an_untrusted_workflow_publishes_nowhere_the_operator_did_not_allow(fenta_home, monkeypatch):
    settings = _no_env(monkeypatch)
    _stored(settings, "default")
    with pytest.raises(AccountError, match="allows untrusted workflows no YouTube account"):
        resolve(settings, "youtube", None, Policy.untrusted(settings))


def test_a_permission_the_operator_withdrew_since_the_job_was_queued_is_refused(fenta_home, monkeypatch):
    monkeypatch.setenv("FENTA_PUBLISH_ACCOUNTS", "youtube")
    queued_under = Policy.untrusted(Settings.from_env())
    monkeypatch.delenv("FENTA_PUBLISH_ACCOUNTS")
    settings = _no_env(monkeypatch)
    _stored(settings, "default")
    with pytest.raises(AccountError, match="allows untrusted workflows no YouTube account"):
        resolve(settings, "youtube", None, queued_under)


def test_the_stored_policy_keeps_the_accounts_it_allowed():
    policy = Policy(trusted=False, publish_accounts=("youtube:brand",))
    assert Policy.from_stored(policy.to_stored()) == policy


def test_a_token_about_to_expire_is_refreshed_and_the_new_one_stored(youtube_fake, monkeypatch):
    settings = _no_env(monkeypatch)
    account = Account(
        platform="youtube",
        name="main",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        access_token="ya29.old",
        refresh_token=youtube_fake.grant(),
        expires_at=time.time() + 60,
    )
    AccountStore(settings).save(account)
    renewed = fresh(settings, account)
    assert renewed.access_token != "ya29.old" and youtube_fake.refreshes == 1
    assert AccountStore(settings).get("youtube", "main").access_token == renewed.access_token
    assert renewed.refresh_token == account.refresh_token  # Google sends none back: the old one is kept


def test_a_token_another_process_refreshed_meanwhile_is_used_without_refreshing_again(
    youtube_fake, monkeypatch
):
    settings = _no_env(monkeypatch)
    stale = Account(
        platform="youtube",
        name="main",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        access_token="ya29.old",
        refresh_token=youtube_fake.grant(),
        expires_at=time.time() + 60,
    )
    AccountStore(settings).save(fresh(settings, stale, force=True))  # "the other process"
    assert youtube_fake.refreshes == 1
    assert fresh(settings, stale).access_token != "ya29.old"
    assert youtube_fake.refreshes == 1


def test_a_refused_refresh_token_is_one_line_saying_to_connect_again(youtube_fake, monkeypatch):
    settings = _no_env(monkeypatch)
    rt = youtube_fake.grant()
    youtube_fake.revoke(rt)
    account = Account(
        platform="youtube",
        name="brand",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=rt,
        expires_at=0,
    )
    with pytest.raises(AccountError) as e:
        fresh(settings, account)
    message = str(e.value)
    assert (
        "invalid_grant" in message
        and "connect it again: fenta accounts connect youtube --name brand" in message
    )
    assert "Testing status" in message and "\n" not in message and e.value.exit_code == 2


def test_tokens_read_from_an_account_file_are_redacted_everywhere_in_this_process(fenta_home, monkeypatch):
    settings = _no_env(monkeypatch)
    _stored(settings, "main")
    AccountStore(settings).get("youtube", "main")
    other = Settings.from_env()
    assert other.redact("token ya29.stored-main and 1//stored-main") == "token *** and ***"


def test_environment_secrets_are_redacted(youtube_fake):
    settings = Settings.from_env()
    rt = os.environ["FENTA_YOUTUBE_REFRESH_TOKEN"]
    assert settings.redact(f"{rt} {CLIENT_SECRET} {CLIENT_ID}") == f"*** *** {CLIENT_ID}"


def test_a_rotated_refresh_token_of_an_environment_account_is_kept_and_used_next_time(
    tiktok_fake, monkeypatch
):
    first = tiktok_fake.grant()
    for k, v in tiktok_fake.env(first).items():
        monkeypatch.setenv(k, v)
    settings = Settings.from_env()
    account = resolve(settings, "tiktok", None, TRUSTED)
    renewed = fresh(settings, account, force=True)
    assert renewed.refresh_token != first and first in tiktok_fake.dead  # rotated: the old one is dead
    again = resolve(Settings.from_env(), "tiktok", None, TRUSTED)  # a later process, same variable
    assert again.refresh_token == renewed.refresh_token
    assert fresh(Settings.from_env(), again, force=True).refresh_token not in (first, renewed.refresh_token)
    assert tiktok_fake.refreshes == 2


def test_a_new_environment_refresh_token_replaces_the_kept_rotation(tiktok_fake, monkeypatch):
    for k, v in tiktok_fake.env().items():
        monkeypatch.setenv(k, v)
    settings = Settings.from_env()
    fresh(settings, resolve(settings, "tiktok", None, TRUSTED), force=True)
    monkeypatch.setenv("FENTA_TIKTOK_REFRESH_TOKEN", "rft.brand-new")
    assert resolve(Settings.from_env(), "tiktok", None, TRUSTED).refresh_token == "rft.brand-new"
