"""Fitting clips to the narration: slots, trim/loop/spread, scenes, transitions centred on cuts."""

from __future__ import annotations

import pytest

from fenta.errors import MediaError
from fenta.render.timeline import build_timeline, hook_text, load_timeline, scene_starts
from fenta.types import Audio, Clip, Scene, Word

from ._media import template


def v(name, dur, scene=None):
    return Clip(kind="video", path=f"/m/{name}.mp4", duration=dur, scene=scene)


def test_slots_cover_the_narration_exactly_and_respect_max_clip():
    tl = build_timeline(
        clips=[v("a", 30)],
        voice=Audio(path="/v.wav", duration=13.0),
        template=template(pacing={"min_clip": 2, "max_clip": 4}),
    )
    assert len(tl.segments) == 4
    assert tl.segments[-1].start + tl.segments[-1].duration == pytest.approx(13.0)
    assert all(s.duration <= 4 + 1e-6 for s in tl.segments)


def test_a_long_clip_used_twice_continues_where_it_left_off():
    tl = build_timeline(
        clips=[v("a", 30)], voice=None, duration=8.0, template=template(pacing={"min_clip": 4, "max_clip": 4})
    )
    assert [s.in_point for s in tl.segments] == [0.0, 4.0]


def test_a_short_clip_is_looped():
    tl = build_timeline(
        clips=[v("a", 1.0)],
        voice=None,
        duration=4.0,
        template=template(pacing={"min_clip": 4, "max_clip": 4}),
    )
    assert tl.segments[0].loop


def test_stills_get_alternating_ken_burns_zoom():
    stills = [Clip(kind="image", path=f"/m/{i}.png") for i in range(2)]
    tl = build_timeline(
        clips=stills,
        voice=None,
        duration=4.0,
        template=template(pacing={"min_clip": 2, "max_clip": 2, "zoom": 1.1}),
    )
    assert [s.zoom for s in tl.segments] == [(1.0, 1.1), (1.1, 1.0)]


def test_transitions_overlap_neighbours_centred_on_the_cut():
    tl = build_timeline(
        clips=[v("a", 30), v("b", 30)],
        voice=None,
        duration=6.0,
        template=template(transition={"type": "fade", "seconds": 0.5}, pacing={"min_clip": 3, "max_clip": 3}),
    )
    a, b = tl.segments
    assert a.start == 0 and a.duration == pytest.approx(3.25)
    assert b.start == pytest.approx(2.75) and b.start + b.duration == pytest.approx(6.0)


def test_clips_follow_the_scene_they_illustrate():
    scenes = [Scene(narration="One two three."), Scene(narration="Four five.")]
    words = [
        Word(text=t, start=i * 1.0, end=i * 1.0 + 0.8)
        for i, t in enumerate(["One", "two", "three.", "Four", "five."])
    ]
    starts = scene_starts(scenes, words)
    assert starts == [0.0, 3.0]
    tl = build_timeline(
        clips=[v("second", 30, scene=1), v("first", 30, scene=0)],
        voice=Audio(path="/v.wav", duration=5.0),
        template=template(pacing={"min_clip": 1, "max_clip": 6}),
        scene_starts=starts,
    )
    assert [(s.path, s.start) for s in tl.segments] == [("/m/first.mp4", 0.0), ("/m/second.mp4", 3.0)]


def test_scene_starts_give_up_when_words_do_not_match():
    assert scene_starts([Scene(narration="a b c")], [Word(text="a", start=0, end=1)]) is None


def test_hook_is_the_first_sentence():
    assert hook_text("Octopuses have three hearts. And blue blood.") == "Octopuses have three hearts."


def test_loading_a_broken_timeline_names_the_file_and_field(tmp_path):
    p = tmp_path / "t.json"
    p.write_text('{"canvas": {"width": 10, "height": 10, "fps": 30}, "duration": -1, "segments": []}')
    with pytest.raises(MediaError) as e:
        load_timeline(p)
    assert "t.json" in str(e.value) and "duration" in str(e.value)
