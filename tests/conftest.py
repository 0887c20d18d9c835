"""Shared fixtures: an isolated FENTA_HOME, no keys, and small media made with FFmpeg's lavfi sources."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fenta.media.ffmpeg import ffmpeg_exe

_KEY_VARS = ("OPENROUTER_API_KEY", "PEXELS_API_KEY", "KIE_API_KEY", "FENTA_API_KEY")


@pytest.fixture(autouse=True)
def fenta_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own FENTA_HOME, no provider keys, and no job-level retries unless it asks
    (`fenta run` retries a retryable failure 3 times by default, waiting 10-80 s; tests of retries
    pass --retries, `retry:` or FENTA_MAX_RETRIES themselves)."""
    home = tmp_path / "home"
    monkeypatch.setenv("FENTA_HOME", str(home))
    monkeypatch.setenv("FENTA_MAX_RETRIES", "0")
    for var in _KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return home


def lavfi(out: Path, source: str, *extra: str) -> Path:
    """Make a media file from an FFmpeg lavfi source expression."""
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", source, *extra, str(out)], check=True
    )
    return out


@pytest.fixture
def make_media(tmp_path):
    """Factory: make_media('clip.mp4', 'testsrc2=s=320x240:d=2', '-pix_fmt', 'yuv420p')."""

    def make(name: str, source: str, *extra: str) -> Path:
        return lavfi(tmp_path / name, source, *extra)

    return make


@pytest.fixture
def write(tmp_path):
    """Factory: write('wf.yaml', text) -> path."""

    def _write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        return p

    return _write


@pytest.fixture
def cli():
    """Invoke the fenta CLI in-process: cli('run', 'wf.yaml') -> click Result."""
    from typer.testing import CliRunner

    from fenta.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


REPO = Path(__file__).resolve().parent.parent
