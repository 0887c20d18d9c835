"""run_ffmpeg: what a failed FFmpeg becomes. A crash (killed by a signal) is retryable; an error exit
is not."""

from __future__ import annotations

import asyncio

import pytest

from fenta.errors import RenderError
from fenta.media import ffmpeg as ffm
from fenta.media.run import run_ffmpeg


@pytest.fixture
def crashing_ffmpeg(tmp_path, monkeypatch):
    """FENTA_FFMPEG: a wrapper that dies of SIGSEGV before running anything."""
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(
        f'#!/bin/sh\ncase "$*" in *-progress*) kill -SEGV $$;; esac\nexec "{ffm.ffmpeg_exe()}" "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("FENTA_FFMPEG", str(wrapper))
    ffm._locate.cache_clear()
    yield
    monkeypatch.delenv("FENTA_FFMPEG")
    ffm._locate.cache_clear()


def test_an_ffmpeg_that_crashes_is_a_retryable_failure(crashing_ffmpeg, tmp_path):
    with pytest.raises(RenderError) as caught:
        asyncio.run(
            run_ffmpeg(
                ["-f", "lavfi", "-i", "testsrc2=d=1", str(tmp_path / "o.mp4")],
                what="render",
                log_dir=tmp_path,
            )
        )
    assert caught.value.returncode == -11 and caught.value.retryable is True


def test_an_ffmpeg_that_exits_with_an_error_is_not_retryable(tmp_path):
    with pytest.raises(RenderError) as caught:
        asyncio.run(
            run_ffmpeg(
                ["-i", str(tmp_path / "missing.mp4"), str(tmp_path / "o.mp4")],
                what="render",
                log_dir=tmp_path,
            )
        )
    assert caught.value.returncode > 0 and caught.value.retryable is False
