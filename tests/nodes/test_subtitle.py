"""Voice.TTS -> Subtitle end to end, offline, in English and Russian: the captions follow the voice."""

from __future__ import annotations

import re

import pysubs2
import pytest

from fenta.errors import FentaError
from fenta.nodes.subtitle import Subtitle
from fenta.nodes.voice import VoiceTTS
from fenta.render.fonts import FontMeasure, resolve_font
from fenta.render.srt import read_srt
from tests.tts._helpers import run_node, small_template

SCRIPTS = {
    "en": (
        "en-us",
        "Octopuses have three hearts and blue blood. In 2026, the well-known U.S.A. lab counted 8 arms"
        " — again! Clever, strange, alien.",
    ),
    "ru": (
        "ru",
        "У осьминогов три сердца и голубая кровь. В 2026 году, т.е. совсем скоро, учёные снова посчитали"
        " щупальца — их 8! Умные, странные, инопланетные.",
    ),
}
_TAG = re.compile(r"\{[^}]*\}")
_HIGHLIGHT = re.compile(r"\{\\c&H[0-9A-F]{6}&\}(.*?)\{\\r\}")


@pytest.fixture(scope="module", params=sorted(SCRIPTS))
def captioned(request, tmp_path_factory):
    """(language, template, TTS words, SRT, ASS) for one script, made once per module."""
    import os

    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("FENTA_HOME", str(home))
    mp.chdir(home)
    try:
        voice, text = SCRIPTS[request.param]
        template = small_template()
        voiced = run_node(VoiceTTS, {"engine": "espeak", "voice": voice, "text": text}, {}, template=template)
        track = run_node(Subtitle, {}, {"words": voiced.words}, template=template).track
        assert os.path.isfile(track.ass_path)
        yield (
            request.param,
            text,
            template,
            voiced.words,
            pysubs2.load(track.srt_path),
            pysubs2.load(track.ass_path),
        )
    finally:
        mp.undo()


def test_every_character_of_the_script_appears_in_the_srt_in_order(captioned):
    _, text, _, _, srt, _ = captioned
    assert "".join("".join(e.plaintext.split()) for e in srt) == "".join(text.split())


def test_each_highlighted_caption_word_starts_within_50_ms_of_its_tts_time(captioned):
    _, _, _, words, _, ass = captioned
    lit = [(e.start / 1000, m.group(1)) for e in ass for m in [_HIGHLIGHT.search(e.text)] if m]
    assert [t for _, t in lit] == [w.text.upper() for w in words]
    for (start, _), word in zip(lit, words):
        assert abs(start - word.start) <= 0.05


def test_no_two_caption_events_overlap(captioned):
    _, _, _, _, srt, ass = captioned
    for events in (list(srt), list(ass)):
        for a, b in zip(events, events[1:]):
            assert a.end <= b.start and a.start < a.end


def test_every_caption_line_fits_the_frame_at_the_template_font_size(captioned):
    _, _, template, _, _, ass = captioned
    style = ass.styles["Default"]
    assert style.fontsize == template["subtitles"]["size"]
    measure = FontMeasure(resolve_font(style.fontname, style.bold), style.fontsize)
    room = template["canvas"]["width"] - style.marginl - style.marginr
    for e in ass:
        for line in _TAG.sub("", e.text).split("\\N"):
            assert measure.width(line) + 2 * style.outline + style.shadow <= room, line


def test_phrase_mode_writes_one_event_per_phrase_in_the_words_own_case():
    from fenta.types import Word

    words = [
        Word(text=t, start=i * 0.4, end=i * 0.4 + 0.3)
        for i, t in enumerate("Hello there. Привет, мир!".split())
    ]
    track = run_node(Subtitle, {"mode": "phrase", "uppercase": False}, {"words": words}).track
    ass = pysubs2.load(track.ass_path)
    assert [e.plaintext for e in ass] == ["Hello there.", "Привет, мир!"]


def test_a_missing_font_is_an_error_that_names_it():
    from fenta.types import Word

    with pytest.raises(FentaError) as err:
        run_node(Subtitle, {"font": "No Such Font Sans"}, {"words": [Word(text="hi", start=0, end=0.5)]})
    assert "No Such Font Sans" in err.value.message and err.value.field == "params.font"


def test_validation_reports_a_missing_template_font_before_anything_runs():
    problems = Subtitle().validate_params(Subtitle.Params(), small_template(font="Missing Font"))
    assert problems and problems[0][0] == "template.subtitles.font" and "Missing Font" in problems[0][1]


def test_the_russian_example_is_a_valid_offline_workflow(cli):
    from tests.conftest import REPO

    result = cli("validate", str(REPO / "examples" / "russian.yaml"))
    assert result.exit_code == 0, result.output


# ------------------------------------------------- every character of the script, end to end

PUNCTUATED = "He said: \"don't stop\" — 100% sure; a\\b [x] {y} <z> 'q' , = : %{pts} $HOME"


def _chars(text: str) -> str:
    return "".join(text.split())


def _as_libass_reads(text: str) -> str:
    """The characters libass draws for an ASS event's text: override blocks dropped, escapes undone."""
    out, i = [], 0
    while i < len(text):
        if text.startswith(("\\{", "\\}"), i):
            out.append(text[i + 1])
            i += 2
        elif text.startswith("\\N", i):
            out.append("\n")
            i += 2
        elif text[i] == "{" and "}" in text[i:]:
            i = text.index("}", i) + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out).replace("\u2060", "")


@pytest.fixture(scope="module")
def punctuated(tmp_path_factory):
    """(SRT cues, ASS) for PUNCTUATED spoken by espeak, captioned with the karaoke template."""
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("home")
    mp.setenv("FENTA_HOME", str(home))
    mp.chdir(home)
    try:
        voiced = run_node(VoiceTTS, {"engine": "espeak", "voice": "en-us", "text": PUNCTUATED}, {})
        track = run_node(Subtitle, {}, {"words": voiced.words}).track
        yield read_srt(track.srt_path), pysubs2.load(track.ass_path)
    finally:
        mp.undo()


def test_every_character_of_a_script_full_of_symbols_and_markup_is_in_the_srt_in_order(punctuated):
    cues, _ = punctuated
    assert _chars("".join(text for _, _, text in cues)) == _chars(PUNCTUATED)


def test_every_character_of_a_script_full_of_symbols_and_markup_is_drawn_from_the_ass_in_order(punctuated):
    _, ass = punctuated
    shown = [_as_libass_reads(e.text) for e in ass if e.layer == 1]
    phrases = [
        t for k, t in enumerate(shown) if k == 0 or t != shown[k - 1]
    ]  # karaoke repeats a phrase per word
    assert _chars("".join(phrases)) == _chars(PUNCTUATED.upper())


def test_russian_abbreviation_letters_merge_into_cues_no_shorter_than_the_template_minimum():
    template = small_template()
    voiced = run_node(
        VoiceTTS,
        {"engine": "espeak", "voice": "ru", "text": "Т. е. это важно, и это правда. Да, т. е. нет."},
        {},
        template=template,
    )
    cues = read_srt(run_node(Subtitle, {}, {"words": voiced.words}, template=template).track.srt_path)
    assert "Т. е." in cues[0][2]
    assert min(b - a for a, b, _ in cues) >= template["subtitles"]["min_seconds"] * 1000 - 10


def test_no_caption_in_the_published_srt_or_ass_ends_after_the_video(write, cli):
    import json

    from fenta.media.probe import probe

    wf = write(
        "wf.yaml",
        """version: 1
name: short
template: karaoke-bold
nodes:
  voice: {type: Voice.TTS, params: {engine: espeak, voice: ru, text: "Т. е. это."}}
  subs: {type: Subtitle, inputs: {words: voice.words}}
  timeline: {type: Timeline, inputs: {voice: voice.audio, subtitles: subs.track}}
  render: {type: Render, params: {profile: 720p}, inputs: {timeline: timeline.timeline}}
""",
    )
    result = cli("run", str(wf), "-o", "out", "--json")
    assert result.exit_code == 0, result.output
    arts = json.loads(result.stdout)["artifacts"]
    end_ms = probe(arts["video"]).duration * 1000
    assert read_srt(arts["srt"])[-1][1] <= end_ms
    assert max(e.end for e in pysubs2.load(arts["ass"])) <= end_ms


def test_the_animation_param_and_keywords_reach_the_captions_and_the_track_keeps_words_and_style(fenta_home):
    from fenta.types import Word

    words = [
        Word(text=t, start=i * 0.5, end=i * 0.5 + 0.4) for i, t in enumerate("Blue blood flows here".split())
    ]
    params = {"animation": "pop", "emphasis_color": "#FF4FA0"}
    track = run_node(
        Subtitle, params, {"words": words, "keywords": ["blood"]}, template=small_template()
    ).track
    text = " ".join(e.text for e in pysubs2.load(track.ass_path).events)
    assert "\\fscy40\\t(" in text and "\\c&HA04FFF&" in text
    assert [w.text for w in track.words] == ["Blue", "blood", "flows", "here"] and track.keywords == ["blood"]
    assert track.style is not None and track.style["animation"] == "pop"


def test_a_bad_emphasis_colour_is_a_validation_problem_naming_the_param():
    problems = Subtitle().validate_params(Subtitle.Params(emphasis_color="pink"), small_template())
    assert problems and problems[0][0] == "params.emphasis_color"
