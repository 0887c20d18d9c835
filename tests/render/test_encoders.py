"""The H.264 encoder choice: a test encode per machine (cached), x264 whenever a hardware encoder fails.

No GPU is needed: on a machine without one every hardware encoder fails its test for real, and
a cached "usable" verdict that no longer holds (a GPU gone since) makes the render itself fail
with that encoder, which must end in an x264 video with a notice, never a failed job.
"""

from __future__ import annotations

import json
import logging

import pytest

from fenta.config import Settings
from fenta.media.ffmpeg import ffmpeg_exe
from fenta.render import encoders
from fenta.render.compose import build_command
from fenta.render.encoders import HARDWARE, X264, check_encoder, resolve_encoder
from fenta.render.profile import Profile
from fenta.render.timeline import Segment, Timeline

from ._media import do_render, ff, streams, template


def _settings() -> Settings:
    return Settings.from_env()


def _cache() -> dict:
    return json.loads((_settings().cache_dir / "encoders.json").read_text(encoding="utf-8"))


def _no_hardware(name: str) -> None:
    if check_encoder(name, settings=_settings()).ok:
        pytest.skip(f"{name} works on this machine")


def _colour_timeline(seconds: float = 1.0) -> Timeline:
    return Timeline(
        canvas={"width": 180, "height": 320, "fps": 15},
        duration=seconds,
        segments=[Segment(kind="color", color="#336699", start=0, duration=seconds)],
        template=template(),
    )


def _encoded_by_x264(path) -> bool:
    # x264 writes its version and settings into the stream (an SEI message); hardware encoders do not.
    return b"x264 - core" in path.read_bytes()


def test_the_test_encode_runs_once_per_ffmpeg_binary_and_its_answer_is_kept(fenta_home):
    _no_hardware("nvenc")
    first = check_encoder("nvenc", settings=_settings())
    assert not first.ok and first.problem
    entry = _cache()[str(__import__("os").path.realpath(ffmpeg_exe()))]
    assert entry["answers"]["nvenc"] == {"ok": False, "problem": first.problem}
    assert {"mtime_ns", "size"} <= set(entry)

    # A second check reads the cache: what it says is what comes back.
    file = _settings().cache_dir / "encoders.json"
    cache = _cache()
    key = next(iter(cache))
    cache[key]["answers"]["nvenc"]["problem"] = "kept from the first test"
    file.write_text(json.dumps(cache), encoding="utf-8")
    assert check_encoder("nvenc", settings=_settings()).problem == "kept from the first test"

    # A changed binary (another mtime) is tested again.
    cache[key]["mtime_ns"] += 1
    file.write_text(json.dumps(cache), encoding="utf-8")
    assert check_encoder("nvenc", settings=_settings()).problem == first.problem


def test_auto_takes_x264_silently_when_no_hardware_encoder_works(caplog):
    if any(check_encoder(n, settings=_settings()).ok for n in HARDWARE):
        pytest.skip("a hardware encoder works on this machine")
    with caplog.at_level(logging.WARNING, logger="fenta"):
        assert resolve_encoder("auto") is X264
    assert not caplog.records
    assert set(_cache()[next(iter(_cache()))]["answers"]) == set(HARDWARE)


def test_a_named_hardware_encoder_that_does_not_work_gives_x264_with_a_notice(caplog):
    _no_hardware("qsv")
    with caplog.at_level(logging.WARNING, logger="fenta"):
        assert resolve_encoder("qsv") is X264
    notices = [r.getMessage() for r in caplog.records]
    assert (
        len(notices) == 1
        and notices[0].startswith("notice: the qsv encoder does not work here (")
        and notices[0].endswith("; encoding with x264")
    )


def test_a_render_asking_for_nvenc_without_a_gpu_is_an_x264_video(tmp_path, caplog):
    _no_hardware("nvenc")
    with caplog.at_level(logging.WARNING, logger="fenta"):
        do_render(
            _colour_timeline(),
            tmp_path / "o.mp4",
            profile=Profile(name="canvas", preset="ultrafast", encoder="nvenc"),
            thumb=False,
        )
    assert _encoded_by_x264(tmp_path / "o.mp4")
    assert streams(tmp_path / "o.mp4")["frames"] == 15
    assert any("nvenc" in r.getMessage() and "x264" in r.getMessage() for r in caplog.records)


def test_a_hardware_encoder_failing_in_the_render_itself_falls_back_to_x264(tmp_path, caplog):
    # The cache says nvenc worked here (a GPU since removed, a driver since broken): the render
    # really runs h264_nvenc, it fails, and the same video is made with x264.
    _no_hardware("nvenc")
    file = _settings().cache_dir / "encoders.json"
    cache = _cache()
    cache[next(iter(cache))]["answers"]["nvenc"] = {"ok": True, "problem": None}
    file.write_text(json.dumps(cache), encoding="utf-8")
    assert resolve_encoder("nvenc") is HARDWARE["nvenc"]

    with caplog.at_level(logging.WARNING, logger="fenta"):
        do_render(
            _colour_timeline(),
            tmp_path / "o.mp4",
            profile=Profile(name="canvas", preset="ultrafast", encoder="nvenc"),
        )
    assert _encoded_by_x264(tmp_path / "o.mp4") and (tmp_path / "o.jpg").exists()
    notices = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith("notice: the nvenc encoder failed (") and m.endswith("encoding with x264")
        for m in notices
    ), notices


def test_hardware_settings_follow_the_profile_crf_and_reach_the_command(tmp_path):
    nvenc = HARDWARE["nvenc"].output_options("veryfast", 23)
    assert (
        nvenc["vcodec"] == "h264_nvenc" and nvenc["cq"] == 24 and nvenc["rc"] == "vbr" and nvenc["b:v"] == 0
    )
    assert HARDWARE["nvenc"].output_options("veryfast", 28)["cq"] == 29
    assert HARDWARE["qsv"].output_options("veryfast", 20)["global_quality"] == 20

    args = build_command(
        _colour_timeline(),
        tmp_path / "o.mp4",
        None,
        profile=Profile(name="canvas"),
        infos={},
        textdir=tmp_path,
        encoder=HARDWARE["vaapi"],
    )
    assert args[:2] == ["-vaapi_device", encoders.VAAPI_DEVICE]
    assert "hwupload" in args[args.index("-filter_complex") + 1]
    assert args[args.index("-vcodec") + 1] == "h264_vaapi" and "-pix_fmt" not in args
    x264 = build_command(
        _colour_timeline(),
        tmp_path / "o.mp4",
        None,
        profile=Profile(name="canvas"),
        infos={},
        textdir=tmp_path,
    )
    assert x264[x264.index("-vcodec") + 1] == "libx264" and x264[x264.index("-crf") + 1] == "23"


def test_fenta_render_takes_an_encoder_and_refuses_an_unknown_one(cli, tmp_path):
    tl = tmp_path / "t.timeline.json"
    tl.write_text(json.dumps(_colour_timeline().model_dump(mode="json")), encoding="utf-8")
    bad = cli("render", str(tl), "--encoder", "quicksync", "-o", str(tmp_path / "out"))
    assert bad.exit_code == 2 and "quicksync" in bad.output
    ok = cli(
        "render", str(tl), "--encoder", "auto", "--profile", "canvas", "-o", str(tmp_path / "out"), "--json"
    )
    assert ok.exit_code == 0, ok.output
    assert (
        json.loads(ok.output)["video"].endswith("t.mp4")
        and "h264" in ff("-i", str(tmp_path / "out" / "t.mp4")).stderr
    )


def test_fenta_doctor_lists_which_encoders_work(cli):
    r = cli("doctor", "--json")
    info = json.loads(r.output)
    assert info["encoders"]["x264"] == "usable"
    assert set(info["encoders"]) == {"x264", *HARDWARE}
    assert all(v == "usable" or v.startswith("not usable: ") for v in info["encoders"].values())


RENDER_WF = (
    "version: 1\nname: t\nnodes:\n"
    "  bg:\n    type: Input.Background\n"
    "  tl:\n    type: Timeline\n    inputs: {clips: bg.clips}\n"
    "  render:\n    type: Render\n    inputs: {timeline: tl.timeline}\n"
)


def test_a_queued_jobs_encoder_is_kept_with_it_and_set_on_every_render_node_when_it_runs(write):
    import fenta
    from fenta.engine.results import apply_options
    from fenta.engine.store import JobStore

    job_id = fenta.submit(fenta.load(write("wf.yaml", RENDER_WF)), encoder="qsv")
    store = JobStore(_settings().db_path)
    try:
        options = store.get_job(job_id).options
    finally:
        store.close()
    assert options["encoder"] == "qsv"
    wf = fenta.load(write("wf.yaml", RENDER_WF))
    apply_options(wf, options)
    assert wf.nodes["render"].parsed_params.encoder == "qsv"


def test_an_unknown_encoder_given_to_the_sdk_names_the_node_and_field_and_queues_nothing(write):
    import fenta
    from fenta.errors import SpecError

    with pytest.raises(SpecError) as e:
        fenta.submit(fenta.load(write("wf.yaml", RENDER_WF)), encoder="quicksync")
    assert e.value.problems[0].node == "render" and e.value.problems[0].field == "encoder"
    assert "'quicksync' is not a valid encoder: choose auto, x264, nvenc" in str(e.value)
    assert fenta.jobs.list() == []


def test_fenta_submit_refuses_an_unknown_encoder(cli, write):
    r = cli("submit", str(write("wf.yaml", RENDER_WF)), "--encoder", "quicksync")
    assert r.exit_code == 2 and "unknown encoder 'quicksync'" in r.output
