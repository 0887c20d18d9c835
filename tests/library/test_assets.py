"""The asset library through `fenta assets`: content-addressed, probed once, thumbnailed, tagged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import fenta
from fenta.media.probe import probe


@pytest.fixture
def clip(make_media):
    return make_media(
        "clip.mp4",
        "testsrc2=s=320x240:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=d=2",
        "-pix_fmt",
        "yuv420p",
        "-shortest",
    )


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_adding_the_same_clip_twice_gives_one_asset(cli, clip, tmp_path):
    first = _json(cli("assets", "add", str(clip), "--json"))["assets"][0]
    shutil.copy(clip, tmp_path / "same-bytes-other-name.mp4")
    second = _json(cli("assets", "add", str(tmp_path / "same-bytes-other-name.mp4"), "--json"))["assets"][0]
    assert first["id"] == second["id"] and first["new"] and not second["new"]
    assert len(_json(cli("assets", "list", "--json"))) == 1


def test_list_json_shows_duration_size_and_thumbnail_path(cli, clip):
    cli("assets", "add", str(clip))
    (asset,) = _json(cli("assets", "list", "--json"))
    assert asset["kind"] == "video" and asset["duration"] == pytest.approx(2.0, abs=0.05)
    assert (asset["width"], asset["height"], asset["fps"]) == (320, 240, 25.0)
    assert asset["bytes"] == clip.stat().st_size and asset["has_audio"] is True
    assert (asset["video_codec"], asset["audio_codec"]) == ("h264", "aac")
    thumb = probe(asset["thumbnail"])
    assert thumb.video_codec == "mjpeg" and max(thumb.width, thumb.height) == 320
    assert probe(asset["path"]).duration == pytest.approx(2.0, abs=0.05)  # the stored copy plays


def test_an_audio_file_gets_its_loudness_and_a_waveform_thumbnail(make_media):
    quiet = fenta.library.add(make_media("quiet.wav", "aevalsrc=0.1*sin(2*PI*440*t):d=3"))
    loud = fenta.library.add(make_media("loud.wav", "aevalsrc=0.8*sin(2*PI*440*t):d=3"))
    assert quiet.kind == loud.kind == "audio" and quiet.width is None
    # BS.1770 for a mono sine of amplitude a: -0.691 + 10*log10(a^2 / 2) (K-weighting is ~0 dB at 440 Hz).
    assert quiet.loudness == pytest.approx(-23.7, abs=0.3)
    assert loud.loudness - quiet.loudness == pytest.approx(18.1, abs=0.2)
    assert probe(quiet.thumbnail).is_still


def test_a_corrupt_file_is_refused_with_its_name_and_nothing_is_stored(cli, clip, tmp_path, fenta_home):
    broken = tmp_path / "broken-beach.mp4"
    broken.write_bytes(clip.read_bytes()[:3000])  # the moov atom is gone
    result = cli("assets", "add", str(clip), str(broken), "--tag", "beach")
    assert result.exit_code == 2
    assert "broken-beach.mp4" in result.output and "not a readable media file" in result.output
    assert "Traceback" not in result.output
    (kept,) = _json(cli("assets", "list", "--json"))
    assert kept["name"] == "clip.mp4"  # the good one was still added
    stored = [p.name for p in (fenta_home / "library").rglob("*") if p.is_file()]
    assert len(stored) == 2  # its file and thumbnail; nothing of the broken one, no temporary files


def test_a_missing_file_is_refused_with_its_name(cli):
    result = cli("assets", "add", "nope.mp4")
    assert result.exit_code == 2 and "nope.mp4: file not found" in result.output


def test_tags_and_kinds_filter_the_list(cli, clip, make_media):
    photo = make_media("photo.png", "testsrc2=s=64x48", "-frames:v", "1")
    cli("assets", "add", str(clip), "--tag", "beach", "--tag", "Summer")
    cli("assets", "add", str(photo))
    photo_id = fenta.library.list_assets(kind="image")[0].id
    assert cli("assets", "tag", photo_id[:6], "beach").exit_code == 0
    assert [a["name"] for a in _json(cli("assets", "list", "--tag", "beach", "--json"))] == [
        "clip.mp4",
        "photo.png",
    ]
    assert [a["name"] for a in _json(cli("assets", "list", "--tag", "summer", "--json"))] == ["clip.mp4"]
    assert [a["name"] for a in _json(cli("assets", "list", "--kind", "image", "--json"))] == ["photo.png"]
    assert _json(cli("assets", "tag", photo_id, "beach", "--remove", "--json"))["tags"] == []


def test_show_and_rm_by_id_prefix(cli, clip):
    asset = _json(cli("assets", "add", str(clip), "--json"))["assets"][0]
    shown = cli("assets", "show", asset["id"][:5])
    assert shown.exit_code == 0 and asset["path"] in shown.output and "h264 / aac" in shown.output
    assert _json(cli("assets", "rm", asset["id"], "--json"))["id"] == asset["id"]
    assert _json(cli("assets", "list", "--json")) == []
    assert not Path(asset["path"]).exists() and not Path(asset["thumbnail"]).exists()


def test_an_unknown_id_or_a_bad_tag_is_exit_2(cli, clip):
    asset = _json(cli("assets", "add", str(clip), "--json"))["assets"][0]
    unknown = cli("assets", "show", "0000ffff")
    assert unknown.exit_code == 2 and "no asset '0000ffff'" in unknown.output
    bad = cli("assets", "tag", asset["id"], "two words")
    assert bad.exit_code == 2 and "'two words' is not a tag" in bad.output


def test_listing_or_looking_up_before_anything_was_added_creates_nothing(cli, fenta_home):
    assert _json(cli("assets", "list", "--json")) == []
    assert cli("assets", "show", "abcd").exit_code == 2
    assert not fenta_home.exists()


def test_adding_one_file_from_several_threads_at_once_keeps_one_asset(clip, fenta_home):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(lambda _: fenta.library.add(clip, tags=["beach"]).id, range(4)))
    assert len(ids) == 1 and len(fenta.library.list_assets()) == 1
    assert (
        len([p for p in (fenta_home / "library").rglob("*") if p.is_file()]) == 2
    )  # one file, one thumbnail


def test_a_bad_tag_is_refused_once_before_any_file_is_added(cli, clip, make_media):
    other = make_media("other.mp4", "testsrc2=s=160x120:d=1", "-pix_fmt", "yuv420p")
    r = cli("assets", "add", str(clip), str(other), "--tag", "морской берег")
    assert r.exit_code == 2 and r.stderr.count("is not a tag") == 1, r.output
    assert "(for example 'морской-берег')" in r.stderr
    assert _json(cli("assets", "list", "--json")) == []


def test_tags_in_any_alphabet_are_kept_and_filter_the_list(cli, clip):
    cli("assets", "add", str(clip), "--tag", "Пляж")
    (asset,) = _json(cli("assets", "list", "--tag", "пляж", "--json"))
    assert asset["tags"] == ["пляж"]


def test_a_filtered_list_that_matches_nothing_says_what_was_asked_for(cli, clip):
    cli("assets", "add", str(clip), "--tag", "beach")
    r = cli("assets", "list", "--kind", "audio", "--tag", "beach")
    assert (
        r.exit_code == 0 and "no audio assets tagged 'beach'" in r.stdout and "no assets yet" not in r.stdout
    )


def test_an_id_shorter_than_4_characters_says_how_many_to_give(cli, clip):
    asset = _json(cli("assets", "add", str(clip), "--json"))["assets"][0]
    r = cli("assets", "show", asset["id"][:3])
    assert r.exit_code == 2 and "give at least 4 characters of its id" in r.stderr


def test_adding_a_folder_says_it_is_a_folder(cli, tmp_path):
    (tmp_path / "media").mkdir()
    r = cli("assets", "add", str(tmp_path / "media"))
    assert r.exit_code == 2 and "a folder, not a file" in r.stderr


def test_sizes_are_shown_in_the_units_fenta_cache_uses(cli, clip):
    from fenta.engine.cache import human_size

    asset = _json(cli("assets", "add", str(clip), "--json"))["assets"][0]
    assert (
        f"{human_size(asset['bytes'])} ({asset['bytes']} bytes)" in cli("assets", "show", asset["id"]).stdout
    )


def test_on_a_narrow_terminal_the_list_keeps_the_id_whole_and_every_column_visible(
    clip, tmp_path, monkeypatch
):
    from rich.console import Console

    from fenta.cli import asset_cmds

    long_name = tmp_path / "a very long clip name for checking the columns.mp4"
    shutil.copy(clip, long_name)
    asset = fenta.library.add(str(long_name), tags=["beach"])
    narrow = Console(width=70, force_terminal=False, record=True)
    monkeypatch.setattr(asset_cmds, "console", narrow)
    asset_cmds._table(fenta.library.list_assets())
    text = narrow.export_text()
    assert asset.id in text and "video" in text and "beach" in text and "KiB" in text
