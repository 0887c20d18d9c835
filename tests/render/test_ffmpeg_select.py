"""Which FFmpeg fenta uses: FENTA_FFMPEG, else a system `ffmpeg` that can do the job, else the bundled one.

The system binaries here are stand-in `ffmpeg` scripts put first on PATH: they answer `-version`
and `-h full` like an old or a trimmed build would, and write every call to `calls.log`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import pytest

from fenta.media.ffmpeg import FFmpegUnusable, check_ffmpeg, ffmpeg_choice, ffmpeg_exe
from tests.conftest import REPO

REAL = imageio_ffmpeg.get_ffmpeg_exe()
BUNDLED_VERSION = imageio_ffmpeg.get_ffmpeg_version().lstrip("n").split("-")[0]  # "9.0.2"
DEBIAN_12 = (
    "ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers\n"
    "built with gcc 12 (Debian 12.2.0-14)\n"
    "configuration: --prefix=/usr --extra-version=0+deb12u1 --toolchain=hardened --enable-gpl --enable-libass"
    " --enable-libfreetype --enable-libx264\n"
    "libavutil      57. 28.100 / 57. 28.100\n"
    "libavfilter     8. 44.100 /  8. 44.100\n"
)
GIT_BUILD = (
    "ffmpeg version N-110000-g3c2a8f1e2d Copyright (c) 2000-2023 the FFmpeg developers\nbuilt with gcc 13\n"
)


@pytest.fixture(scope="module")
def real_help() -> str:
    return subprocess.run(
        [REAL, "-hide_banner", "-h", "full"], capture_output=True, text=True, check=True
    ).stdout


def _without(help_text: str, section: str, option: str | None = None) -> str:
    """`-h full` text without a filter's whole option section, or without one option (and its constants)."""
    out, inside, dropping = [], False, False
    for line in help_text.splitlines():
        if line.endswith(" AVOptions:"):
            inside = line == f"{section} AVOptions:"
            dropping = inside and option is None
            if dropping:
                continue
        elif inside and option is not None:
            indent = len(line) - len(line.lstrip())
            if line.strip().startswith(f"{option} ") and indent <= 3:
                dropping = True
                continue
            if dropping and indent > 3:
                continue  # the option's named constants (left, right, center...)
            dropping = False
        if dropping:
            continue
        out.append(line)
    return "\n".join(out) + "\n"


@pytest.fixture
def stand_in(tmp_path):
    """stand_in(version_text, help_text) -> the path of an `ffmpeg` script first on PATH.

    With text it answers `-version` and `-h full` from them; anything else fails the way
    FFmpeg 5.1 failed the quickstart. With no text it hands every call to the real binary.
    """

    def make(version: str | None = None, help_text: str | None = None, name: str = "bin") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        log = folder / "calls.log"
        if version is None:
            body = f'exec "{REAL}" "$@"'
        else:
            (folder / "version.txt").write_text(version)
            (folder / "help.txt").write_text(help_text or "")
            body = f"""case "$*" in
  -version) cat "{folder}/version.txt" ;;
  *"-h full") cat "{folder}/help.txt" ;;
  *) echo "[Parsed_drawtext_0 @ 0x55d0] Option 'text_align' not found" >&2; exit 8 ;;
esac"""
        exe = folder / "ffmpeg"
        exe.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n{body}\n')
        exe.chmod(0o755)
        return exe

    return make


@pytest.fixture
def first_on_path(monkeypatch):
    def put(exe: Path) -> Path:
        monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
        return exe

    return put


def calls(exe: Path) -> list[str]:
    log = exe.parent / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_a_system_ffmpeg_older_than_6_1_is_passed_over_for_the_bundled_one(
    stand_in, first_on_path, real_help
):
    old = first_on_path(stand_in(DEBIAN_12, _without(real_help, "drawtext", "text_align")))
    choice = ffmpeg_choice()
    assert (choice.path, choice.source) == (REAL, "imageio-ffmpeg (bundled)")
    assert choice.passed_over.path == str(old)
    assert choice.passed_over.problem == "older than 6.1, needed for drawtext text_align"


def test_passing_over_a_system_ffmpeg_logs_one_notice_naming_it_its_version_and_the_bundled_one(
    stand_in, first_on_path, real_help, caplog
):
    old = first_on_path(stand_in(DEBIAN_12, _without(real_help, "drawtext", "text_align")))
    ffmpeg_exe()
    notices = [r.getMessage() for r in caplog.records if r.getMessage().startswith("notice:")]
    assert notices == [
        f"notice: {old} is FFmpeg 5.1.6 (older than 6.1, needed for drawtext text_align);"
        f" using the bundled FFmpeg {BUNDLED_VERSION}"
    ]


def test_a_build_of_unknown_version_whose_drawtext_lacks_text_align_is_passed_over(
    stand_in, first_on_path, real_help
):
    first_on_path(stand_in(GIT_BUILD, _without(real_help, "drawtext", "text_align")))
    choice = ffmpeg_choice()
    assert choice.path == REAL and choice.passed_over.problem == "drawtext lacks text_align"


def test_a_current_system_ffmpeg_without_a_filter_fenta_uses_is_passed_over(
    stand_in, first_on_path, real_help
):
    version = subprocess.run([REAL, "-version"], capture_output=True, text=True).stdout
    first_on_path(stand_in(version, _without(real_help, "xfade")))
    choice = ffmpeg_choice()
    assert choice.path == REAL and choice.passed_over.problem == "no xfade filter"


def test_a_system_ffmpeg_without_libx264_is_passed_over(stand_in, first_on_path, real_help):
    version = subprocess.run([REAL, "-version"], capture_output=True, text=True).stdout
    first_on_path(stand_in(version, _without(real_help, "libx264")))
    assert ffmpeg_choice().passed_over.problem == "no libx264 encoder"


def test_a_system_ffmpeg_that_can_do_the_job_is_used(stand_in, first_on_path):
    wrapper = first_on_path(stand_in())  # exec "$REAL" "$@": a system build as good as the bundled one
    choice = ffmpeg_choice()
    assert (choice.path, choice.source, choice.passed_over) == (str(wrapper), "system PATH", None)


def test_a_checked_binary_is_not_run_again_to_check_it(stand_in):
    wrapper = stand_in()
    first = check_ffmpeg(str(wrapper))
    n = len(calls(wrapper))
    again = check_ffmpeg(str(wrapper))
    assert first.ok and again == first
    assert n == 2 and len(calls(wrapper)) == 2  # -version and -h full, once


def test_a_binary_whose_mtime_changed_is_checked_again(stand_in):
    wrapper = stand_in()
    check_ffmpeg(str(wrapper))
    st = wrapper.stat()
    os.utime(wrapper, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    check_ffmpeg(str(wrapper))
    assert calls(wrapper) == ["-version", "-hide_banner -h full"] * 2


def test_fenta_ffmpeg_naming_a_usable_binary_wins_over_the_system_one(stand_in, first_on_path, monkeypatch):
    first_on_path(stand_in(name="system"))
    forced = stand_in(name="forced")
    monkeypatch.setenv("FENTA_FFMPEG", str(forced))
    assert (ffmpeg_choice().path, ffmpeg_choice().source) == (str(forced), "FENTA_FFMPEG")


def test_fenta_ffmpeg_naming_an_old_ffmpeg_is_refused_naming_what_it_lacks(stand_in, monkeypatch, real_help):
    old = stand_in(DEBIAN_12, _without(real_help, "drawtext", "text_align"))
    monkeypatch.setenv("FENTA_FFMPEG", str(old))
    with pytest.raises(
        FFmpegUnusable, match=r"is FFmpeg 5\.1\.6 \(older than 6\.1, needed for drawtext text_align\)"
    ) as e:
        ffmpeg_exe()
    assert e.value.exit_code == 2 and f"FENTA_FFMPEG={old}" in str(e.value)


def test_fenta_ffmpeg_set_in_a_dot_env_file_is_honoured(stand_in, tmp_path):
    forced = stand_in(name="forced")
    (tmp_path / ".env").write_text(f"FENTA_FFMPEG={forced}\n")  # tmp_path is the working directory
    assert (ffmpeg_exe(), ffmpeg_choice().source) == (str(forced), "FENTA_FFMPEG")


def test_run_with_fenta_ffmpeg_naming_a_missing_file_exits_2_with_one_line(cli, write, monkeypatch, tmp_path):
    monkeypatch.setenv("FENTA_FFMPEG", str(tmp_path / "nowhere" / "ffmpeg"))
    r = cli("run", str(write("wf.yaml", (REPO / "examples" / "quickstart.yaml").read_text())), "-o", "out")
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines() == [
        f"error: FENTA_FFMPEG={tmp_path / 'nowhere' / 'ffmpeg'} does not exist;"
        " point it at FFmpeg 6.1 or newer, or unset it to use the bundled FFmpeg"
    ]


def test_render_with_fenta_ffmpeg_naming_an_old_ffmpeg_exits_2_with_one_line(
    cli, write, stand_in, monkeypatch, real_help
):
    monkeypatch.setenv(
        "FENTA_FFMPEG", str(stand_in(DEBIAN_12, _without(real_help, "drawtext", "text_align")))
    )
    timeline = write(
        "t.timeline.json",
        json.dumps(
            {
                "canvas": {"width": 64, "height": 64, "fps": 10},
                "duration": 1.0,
                "segments": [{"kind": "color", "color": "#336699", "start": 0, "duration": 1.0}],
            }
        ),
    )
    r = cli("render", str(timeline), "-o", "out", "--profile", "canvas")
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "is FFmpeg 5.1.6 (older than 6.1" in r.stderr


def test_doctor_exits_2_and_says_why_when_fenta_ffmpeg_is_unusable(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("FENTA_FFMPEG", str(tmp_path / "gone"))
    r = cli("doctor", "--json")
    assert r.exit_code == 2
    assert json.loads(r.stdout)["ffmpeg"] == {
        "error": f"FENTA_FFMPEG={tmp_path / 'gone'} does not exist;"
        " point it at FFmpeg 6.1 or newer, or unset it to use the bundled FFmpeg"
    }


def test_doctor_names_the_system_ffmpeg_it_passed_over_and_why(cli, stand_in, first_on_path, real_help):
    old = first_on_path(stand_in(DEBIAN_12, _without(real_help, "drawtext", "text_align")))
    r = cli("doctor", "--json")
    ff = json.loads(r.stdout)["ffmpeg"]
    assert r.exit_code == 0
    assert (ff["path"], ff["source"], ff["version"]) == (REAL, "imageio-ffmpeg (bundled)", BUNDLED_VERSION)
    assert ff["passed_over"] == {
        "path": str(old),
        "version": "5.1.6",
        "problem": "older than 6.1, needed for drawtext text_align",
    }


def test_doctor_in_text_shows_the_ffmpeg_in_use_and_why(cli, stand_in, first_on_path):
    wrapper = first_on_path(stand_in())
    r = cli("doctor")
    assert r.exit_code == 0
    assert f"system PATH: {wrapper}" in r.stdout and "first ffmpeg on PATH" in r.stdout


def test_the_quickstart_renders_with_ffmpeg_5_1_first_on_path_using_the_bundled_one(
    stand_in, real_help, tmp_path
):
    old = stand_in(DEBIAN_12, _without(real_help, "drawtext", "text_align"))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "FENTA_FFMPEG"}
    env["PATH"] = f"{old.parent}{os.pathsep}{env['PATH']}"
    cmd = [
        sys.executable,
        "-m",
        "fenta",
        "run",
        str(REPO / "examples" / "quickstart.yaml"),
        "--var",
        "script=Octopuses have three hearts.",
        "--preview",
        "-o",
        "out",
        "--json",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("notice:")] == [
        f"notice: {old} is FFmpeg 5.1.6 (older than 6.1, needed for drawtext text_align);"
        f" using the bundled FFmpeg {BUNDLED_VERSION}"
    ]
    assert calls(old) == ["-version"]  # checked, never asked to render
    assert Path(json.loads(r.stdout)["video"]).is_file()
