"""The trust policy (fenta.policy): which local files an untrusted workflow may name, and how a job keeps it.

Paths are resolved before they are compared (symlinks followed, `..` collapsed), and the answer never
depends on whether the file exists.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from fenta.config import Settings
from fenta.policy import TRUSTED, Policy


@pytest.fixture
def allowed(tmp_path) -> Path:
    folder = tmp_path / "allowed"
    folder.mkdir()
    (folder / "clip.txt").write_text("mine")
    return folder


def _untrusted(*dirs: Path) -> Policy:
    return Policy(trusted=False, allowed_dirs=tuple(Path(os.path.realpath(d)) for d in dirs))


def test_the_local_users_policy_may_open_any_file(tmp_path):
    assert TRUSTED.file_problem("/etc/passwd") is None and TRUSTED.file_problem(tmp_path / "x") is None


def test_an_untrusted_policy_without_allowed_folders_refuses_every_file(tmp_path, allowed):
    why = Policy(trusted=False).file_problem(allowed / "clip.txt")
    assert why is not None and "FENTA_ALLOWED_DIRS" in why and "allows none" in why


def test_a_file_inside_an_allowed_folder_is_allowed(allowed):
    assert _untrusted(allowed).file_problem(allowed / "clip.txt") is None
    assert _untrusted(allowed).file_problem(allowed / "sub" / "deeper.mp4") is None


def test_a_file_outside_the_allowed_folders_is_refused(tmp_path, allowed):
    (tmp_path / "secret.txt").write_text("not yours")
    why = _untrusted(allowed).file_problem(tmp_path / "secret.txt")
    assert why is not None and "outside" in why


def test_dot_dot_out_of_an_allowed_folder_is_refused(tmp_path, allowed):
    assert _untrusted(allowed).file_problem(allowed / ".." / "secret.txt") is not None
    assert _untrusted(allowed).file_problem(allowed / "sub" / ".." / "clip.txt") is None  # still inside


def test_a_folder_named_like_an_allowed_one_is_not_inside_it(tmp_path, allowed):
    (tmp_path / "allowed-not").mkdir()
    assert _untrusted(allowed).file_problem(tmp_path / "allowed-not" / "x.txt") is not None


def test_a_symlink_inside_an_allowed_folder_pointing_out_of_it_is_refused(tmp_path, allowed):
    (tmp_path / "secret.txt").write_text("not yours")
    (allowed / "link.txt").symlink_to(tmp_path / "secret.txt")
    (allowed / "door").symlink_to(tmp_path)
    assert _untrusted(allowed).file_problem(allowed / "link.txt") is not None
    assert _untrusted(allowed).file_problem(allowed / "door" / "secret.txt") is not None


def test_an_allowed_folder_reached_through_a_symlink_is_allowed(tmp_path, allowed):
    (tmp_path / "alias").symlink_to(allowed)
    policy = Policy.untrusted(
        Settings.from_env({"FENTA_ALLOWED_DIRS": str(tmp_path / "alias")}, cwd=tmp_path)
    )
    assert (
        policy.file_problem(allowed / "clip.txt") is None
        and policy.file_problem(tmp_path / "alias" / "clip.txt") is None
    )


def test_the_answer_is_the_same_for_a_file_that_exists_and_one_that_does_not(tmp_path, allowed):
    (tmp_path / "there.txt").write_text("x")
    policy = _untrusted(allowed)
    assert policy.file_problem(tmp_path / "there.txt") == policy.file_problem(tmp_path / "not-there.txt")


def test_a_path_no_file_can_have_is_refused_not_raised(allowed):
    assert _untrusted(allowed).file_problem(str(allowed) + "/a\0b") is not None


def test_the_untrusted_policy_takes_the_operators_folders_and_ranges_from_settings(tmp_path, allowed):
    env = {
        "FENTA_ALLOWED_DIRS": f"{allowed}{os.pathsep}{tmp_path / 'more'}",
        "FENTA_ALLOW_PRIVATE_URLS": "10.0.0.0/8, nonsense",
    }
    policy = Policy.untrusted(Settings.from_env(env, cwd=tmp_path))
    assert not policy.trusted and policy.allowed_dirs == (
        Path(os.path.realpath(allowed)),
        Path(os.path.realpath(tmp_path / "more")),
    )
    assert policy.allowed_networks == (ipaddress.ip_network("10.0.0.0/8"),)
    assert Policy.for_trust(True, Settings.from_env(env, cwd=tmp_path)) is TRUSTED


def test_a_stored_policy_reads_back_as_the_same_policy(tmp_path, allowed):
    policy = Policy(
        trusted=False,
        allowed_dirs=(Path(os.path.realpath(allowed)),),
        allowed_networks=(ipaddress.ip_network("fd00::/8"),),
    )
    assert Policy.from_stored(policy.to_stored()) == policy
    assert Policy.from_stored(TRUSTED.to_stored()) is TRUSTED


def test_a_job_stored_without_a_policy_is_the_local_users(tmp_path):
    assert Policy.from_stored(None) is TRUSTED


@pytest.mark.parametrize(
    "damaged",
    [{}, "untrusted", ["x"], {"trusted": "yes"}, {"trusted": False, "allowed_networks": ["not a range"]}],
)
def test_a_damaged_stored_policy_is_untrusted_with_nothing_allowed(damaged):
    assert Policy.from_stored(damaged) == Policy(trusted=False)
