"""Long quickstart-style videos render with every shipped template (slow: run by hand).

    pytest -m slow tests/test_long_videos.py            # 3 and 10 minutes x 4 templates, ~30 min on 2 cores
    pytest -m slow tests/test_long_videos.py -k 3min    # the 3-minute ones only

Each video is the quickstart's workflow for that template (gradient stills with Ken Burns,
karaoke or sentence captions, title card, progress bar) with a script long enough for the
narration to last the given minutes. Before the Ken Burns fix, 2.5 minutes crashed FFmpeg
(SIGSEGV) every time.
"""

from __future__ import annotations

import re

import pysubs2
import pytest

import fenta
from fenta.media.probe import probe
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

TEMPLATES = ["karaoke-bold", "clean-captions", "explainer-16x9", "square"]
#: espeak speaks the quickstart's English at about 165 words a minute.
WORDS_PER_MINUTE = 165


def long_script(minutes: float) -> str:
    """The quickstart's sentences, numbered so no two repeats are alike, to fill `minutes` of speech."""
    base = fenta.load(REPO / "examples" / "quickstart.yaml").vars["script"]
    sentences = [s.strip() + "." for s in re.split(r"\.\s*", base) if s.strip()]
    words, out, k = 0, [], 0
    while words < minutes * WORDS_PER_MINUTE:
        s = sentences[k % len(sentences)]
        if k % len(sentences) == 0:
            s = f"Part {k // len(sentences) + 1}. {s}"
        out.append(s)
        words += len(s.split())
        k += 1
    return " ".join(out)


@pytest.mark.parametrize("minutes", [3, 10], ids=["3min", "10min"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_a_long_quickstart_video_renders_whole_with_each_template(tmp_path, template, minutes):
    wf = fenta.load(
        REPO / "examples" / "templates" / f"{template}.yaml", vars={"script": long_script(minutes)}
    )
    result = fenta.run(wf, out=tmp_path / "out")

    info = probe(result.video)
    assert info.has_video and info.has_audio
    assert info.duration >= minutes * 60 * 0.85, f"{info.duration:.0f} s"
    srt = pysubs2.load(str(result.artifacts["srt"]))
    assert srt.events, "no captions"
    assert srt.events[-1].end / 1000 <= info.duration + 0.05
