"""Voice.TTS and Voice.Align nodes: engines, the auto fallback and existing narration."""

from __future__ import annotations

import aiohttp
import edge_tts
import pytest

from fenta.errors import NodeError
from fenta.nodes import voice as voice_mod
from fenta.nodes.voice import VoiceAlign, VoiceTTS
from fenta.tts import piper
from fenta.tts.audio import read_wav
from fenta.tts.words import split_words
from tests.tts._helpers import run_node


class RefusedCommunicate:
    """edge_tts.Communicate when the service cannot be reached (aiohttp raises an OSError subclass)."""

    created = 0

    def __init__(self, *args, **kwargs):
        RefusedCommunicate.created += 1

    async def stream(self):
        raise aiohttp.ClientOSError(111, "Connection refused")
        yield  # pragma: no cover - never reached; makes stream() an async generator like edge_tts's


@pytest.fixture
def offline(monkeypatch):
    RefusedCommunicate.created = 0
    monkeypatch.setattr(edge_tts, "Communicate", RefusedCommunicate)
    monkeypatch.setattr(voice_mod, "_edge_attempts", lambda: (2, 0.0))
    return RefusedCommunicate


def test_auto_falls_back_to_the_offline_voice_for_the_language_with_a_visible_warning(offline):
    messages: list = []
    out = run_node(
        VoiceTTS, {"engine": "auto", "language": "ru", "text": "Привет, мир."}, {}, messages=messages
    )
    assert offline.created == 1
    assert any(level == "warning" and "offline espeak" in msg for level, msg in messages)
    assert [w.text for w in out.words] == ["Привет,", "мир."]
    samples, rate = read_wav(out.audio.path)
    assert len(samples) / rate == pytest.approx(out.audio.duration, abs=0.01) and out.audio.duration > 0.5


def test_explicit_edge_retries_then_fails_with_a_retryable_error_naming_the_node(offline):
    with pytest.raises(NodeError) as err:
        run_node(VoiceTTS, {"engine": "edge", "text": "Hello."}, {})
    assert offline.created == 2
    assert err.value.retryable and err.value.node == "n1" and "espeak" in err.value.message


def test_an_unknown_espeak_voice_is_an_error_naming_the_voice_field():
    with pytest.raises(NodeError) as err:
        run_node(VoiceTTS, {"engine": "espeak", "voice": "no-such-voice", "text": "Hello."}, {})
    assert err.value.field == "params.voice" and "no-such-voice" in err.value.message


def test_a_second_run_reuses_the_cached_sentences_and_says_so(monkeypatch):
    from fenta.tts import espeak

    calls = []
    real = espeak.synth_chunk
    monkeypatch.setattr(espeak, "synth_chunk", lambda text, **kw: calls.append(text) or real(text, **kw))
    params = {"engine": "espeak", "text": "One sentence. Another sentence."}
    first = run_node(VoiceTTS, params, {})
    messages: list = []
    second = run_node(VoiceTTS, params, {}, messages=messages)
    assert len(calls) == 2 and second.words == first.words
    assert any("2 of 2 sentences reused" in m for _, m in messages)


@pytest.mark.skipif(not piper.available(), reason="needs fenta[piper]")
def test_piper_speaks_english_with_one_timed_entry_per_written_word_from_its_alignments():
    text = "In 2026, the well-known U.S.A. team won."
    out = run_node(VoiceTTS, {"engine": "piper", "text": text}, {})
    assert [w.text for w in out.words] == [w.text for w in split_words(text)]
    starts = [w.start for w in out.words]
    assert starts == sorted(starts) and out.words[-1].end <= out.audio.duration
    # Alignment-based, not an even spread: "2026" (three spoken words) lasts longer than "the".
    dur = {w.text: w.end - w.start for w in out.words}
    assert dur["2026,"] > 2 * dur["the"]


def test_existing_narration_without_forced_alignment_gets_estimated_times_and_a_warning(
    make_media, monkeypatch
):
    from fenta.tts import align

    monkeypatch.setattr(align, "sphinx_available", lambda: False)
    audio = make_media("narration.wav", "sine=f=300:d=2", "-ac", "1")
    messages: list = []
    out = run_node(VoiceAlign, {"audio": str(audio), "text": "Один два три четыре."}, {}, messages=messages)
    assert [w.text for w in out.words] == ["Один", "два", "три", "четыре."]
    assert out.words[-1].end <= out.audio.duration <= 2.05
    assert any(level == "warning" and "estimated" in msg for level, msg in messages)


def test_existing_narration_that_is_missing_is_an_error_naming_the_audio_field():
    with pytest.raises(NodeError) as err:
        run_node(VoiceAlign, {"audio": "missing.wav", "text": "Hello."}, {})
    assert err.value.field == "params.audio" and "missing.wav" in err.value.message


@pytest.mark.skipif(not piper.available(), reason="needs fenta[piper] for a natural English voice to align")
def test_forced_alignment_times_existing_english_narration_close_to_the_voices_own_times():
    from fenta.tts.align import sphinx_available

    if not sphinx_available():
        pytest.skip("needs fenta[align]")
    text = "The quick brown fox jumps over the lazy dog. Nobody minded the rain."
    spoken = run_node(VoiceTTS, {"engine": "piper", "text": text}, {})
    messages: list = []
    aligned = run_node(
        VoiceAlign, {"audio": spoken.audio.path, "text": text, "method": "sphinx"}, {}, messages=messages
    )
    assert not messages  # aligned, not estimated
    assert [w.text for w in aligned.words] == [w.text for w in spoken.words]
    assert max(abs(a.start - b.start) for a, b in zip(aligned.words, spoken.words)) < 0.2


@pytest.mark.parametrize("script", ["🎉🎉🎉", "..."])
def test_a_connected_script_without_words_is_bad_input_that_says_it_has_no_words_to_speak(script):
    with pytest.raises(NodeError) as err:
        run_node(VoiceTTS, {"engine": "espeak"}, {"text": script})
    assert err.value.exit_code == 2 and err.value.node == "n1" and err.value.field == "inputs.text"
    assert "no words to speak" in err.value.message and "connect" not in err.value.message


def test_validation_refuses_a_script_param_without_words(write, cli):
    wf = write(
        "wf.yaml",
        'version: 1\nname: n\nnodes:\n  voice: {type: Voice.TTS, params: {engine: espeak, text: "..."}}\n',
    )
    result = cli("validate", str(wf))
    assert result.exit_code == 2
    assert (
        "no words to speak" in result.output and "params.text" in result.output and "voice" in result.output
    )


def test_a_run_whose_script_is_only_emoji_names_the_voice_node_and_its_text_input(write, cli):
    wf = write(
        "wf.yaml",
        'version: 1\nname: n\nnodes:\n  script: {type: Input.Text, params: {text: "🎉 🎉"}}\n'
        "  voice: {type: Voice.TTS, params: {engine: espeak}, inputs: {text: script.text}}\n",
    )
    result = cli("run", str(wf), "-o", "out")
    assert result.exit_code != 0
    assert (
        "no words to speak" in result.output and "inputs.text" in result.output and "'voice'" in result.output
    )
