"""Ken Burns on stills: centred zooms in both directions, frames of one size, the same look at any length."""

from __future__ import annotations

import pytest

from fenta.render.profile import Profile
from fenta.render.timeline import Segment, Timeline

from ._media import do_render, gray_frame, template

W, H, FPS = 180, 320, 30


def _marker_still(make_media):
    """Black picture of the canvas aspect with a white square exactly in its middle."""
    return make_media(
        "marker.png",
        "color=black:s=360x640,drawbox=x=170:y=310:w=20:h=20:color=white:t=fill",
        "-frames:v",
        "1",
    )


def _render_zoom(make_media, tmp_path, zoom: tuple[float, float]):
    img = _marker_still(make_media)
    canvas = {"width": W, "height": H, "fps": FPS}
    tl = Timeline(
        canvas=canvas,
        duration=2.0,
        segments=[Segment(kind="image", path=str(img), start=0, duration=2.0, zoom=zoom)],
        template=template(canvas=canvas),
    )
    out = tmp_path / f"zoom-{zoom[0]}-{zoom[1]}.mp4"
    do_render(tl, out, profile=Profile(name="canvas", preset="ultrafast", crf=0), thumb=False)
    return out


def _marker(path, at: float) -> tuple[float, float, int]:
    """Centre (x, y) and width of the bright square in the frame at `at` seconds."""
    w, h, data = gray_frame(path, at)
    xs = [i % w for i, v in enumerate(data) if v > 128]
    ys = [i // w for i, v in enumerate(data) if v > 128]
    return sum(xs) / len(xs), sum(ys) / len(ys), max(xs) - min(xs) + 1


@pytest.mark.parametrize("zoom", [(1.0, 1.5), (1.5, 1.0)], ids=["zoom-in", "zoom-out"])
def test_ken_burns_keeps_the_middle_of_the_picture_in_the_middle_of_the_frame(make_media, tmp_path, zoom):
    out = _render_zoom(make_media, tmp_path, zoom)
    for at in (0.0, 1.0, 1.95):
        x, y, _ = _marker(out, at)
        assert abs(x - (W - 1) / 2) <= 1.5 and abs(y - (H - 1) / 2) <= 1.5, (
            f"marker at ({x:.1f}, {y:.1f}) at {at}s"
        )


@pytest.mark.parametrize("zoom", [(1.0, 1.5), (1.5, 1.0)], ids=["zoom-in", "zoom-out"])
def test_ken_burns_zooms_by_the_segment_factor(make_media, tmp_path, zoom):
    out = _render_zoom(make_media, tmp_path, zoom)
    first, last = _marker(out, 0.0)[2], _marker(out, 1.95)[2]
    # The square is 10 px wide at zoom 1 on this canvas.
    assert abs(first - 10 * zoom[0]) <= 2 and abs(last - 10 * zoom[1]) <= 2


def test_ken_burns_filters_keep_one_frame_size_from_scaler_to_encoder(make_media, tmp_path):
    from fenta.render.compose import build_command

    img = _marker_still(make_media)
    canvas = {"width": W, "height": H, "fps": FPS}
    tl = Timeline(
        canvas=canvas,
        duration=1.0,
        segments=[Segment(kind="image", path=str(img), start=0, duration=1.0, zoom=(1.12, 1.0))],
        template=template(canvas=canvas),
    )
    graph = build_command(tl, tmp_path / "o.mp4", None, profile=Profile(name="canvas"), textdir=tmp_path)
    graph = graph[graph.index("-filter_complex") + 1]
    # A scaler re-evaluated per frame makes frames of changing sizes, which `crop` and later filters
    # mis-handle.
    assert "eval=frame" not in graph
