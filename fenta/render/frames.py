"""How one source becomes the frames of its slot: the colour it is read in, its crop to the slot's aspect
(around its focus point) and its one scale, and the large stills prepared before a render.

Every source is cropped to the output aspect in its own pixels first, then scaled once (bicubic),
straight into limited-range BT.709 - never scaled up to cover and cropped afterwards.
"""

from __future__ import annotations

from pathlib import Path

import ffmpeg

from ..media.probe import MediaInfo
from .inputs import file_input
from .stills import Slot
from .timeline import Timeline

__all__ = [
    "still_slots",
    "still_args",
    "cover",
    "cover_size",
    "still_frame",
    "slot_key",
    "input_matrix",
    "OUT_COLOUR",
    "SCALE_THREADS",
]

#: swscale slice threads for the per-frame scalers. One: x264 keeps the cores busy anyway, and on
#: the bench scene slicing cost 35% more CPU in the filters alone (no speed gained in a full render).
SCALE_THREADS = 1

# Output colour: BT.709 at limited range, what HD players expect. Each scaler converts into it
# in the pass it makes anyway, so no extra conversion runs per frame. (Left to negotiation, a
# full-range JPEG made the whole video full range: tagged yuvj420p, and 15% dearer to encode.)
OUT_COLOUR = {"out_range": "tv", "out_color_matrix": "bt709"}
_SCALE_MATRIX = {
    "bt709": "bt709",
    "bt470bg": "bt470",
    "smpte170m": "smpte170m",
    "smpte240m": "smpte240m",
    "bt2020nc": "bt2020",
    "bt2020c": "bt2020",
    "fcc": "fcc",
}


def input_matrix(info: MediaInfo | None, still: bool) -> str:
    """The YCbCr matrix a source's pixels are in: the one it declares, else the one players assume.

    Unstated, JPEG and WebP stills are BT.601 by their specs; clips are BT.709 when HD and
    BT.601 when SD (mpv's rule). Taken as BT.601 by default, HD clips would shift colour.
    """
    if info is None:
        return "auto"
    if info.color_matrix in _SCALE_MATRIX:
        return _SCALE_MATRIX[info.color_matrix]
    return "bt709" if info.is_hd and not still else "bt601"


def cover(v, W: int, H: int, in_matrix: str = "auto", focus: tuple[float, float] | None = None):
    """Crop to the W:H aspect in the source's own pixels (sample aspect respected), then scale to WxH.

    The crop is centred on `focus` (x, y as fractions of the source), moved inside the picture where
    the point is near an edge; the centre by default."""
    a = W / H
    where: dict[str, str] = {}
    if focus is not None and tuple(focus) != (0.5, 0.5):
        fx, fy = focus
        where = {"x": f"max(0,min(iw-ow,{fx:.4f}*iw-ow/2))", "y": f"max(0,min(ih-oh,{fy:.4f}*ih-oh/2))"}
    size = {"w": f"trunc(min(iw,ih*{a:.6f}/sar)/2)*2", "h": f"trunc(min(ih,iw*sar/{a:.6f})/2)*2"}
    v = v.filter("crop", **size, **where)
    scale = {"flags": "bicubic", "in_color_matrix": in_matrix, **OUT_COLOUR, "threads": SCALE_THREADS}
    return v.filter("scale", W, H, **scale).filter("setsar", 1)


def cover_size(W: int, H: int, zoom: tuple[float, float] | None) -> tuple[int, int]:
    """Size a still is scaled to before Ken Burns: the frame at the largest zoom (even numbers)."""
    zmax = max(zoom or (1.0, 1.0))
    return int(round(W * zmax / 2)) * 2, int(round(H * zmax / 2)) * 2


def still_frame(
    path: str,
    info: MediaInfo | None,
    cw: int,
    ch: int,
    idx: int = 0,
    focus: tuple[float, float] | None = None,
):
    """A still's one frame, cropped to the slot's aspect (around `focus`), scaled to cw x ch (BT.709)."""
    v = file_input(path, info, still=True).video.filter("setpts", f"PTS-STARTPTS+0*{idx}")
    v = v.filter("trim", end_frame=1)
    return cover(v, cw, ch, input_matrix(info, still=True), focus).filter("format", "yuv420p")


def slot_key(path: str, cw: int, ch: int, focus: tuple[float, float] | None) -> Slot:
    """The prepared-stills key of a slot: its focus only when it is not the centre."""
    return (path, cw, ch) if focus is None or tuple(focus) == (0.5, 0.5) else (path, cw, ch, tuple(focus))


def still_slots(tl: Timeline, W: int, H: int) -> list[Slot]:
    """(path, width, height[, focus]) each image segment's still is scaled to."""
    stills = [s for s in tl.segments if s.kind == "image" and s.path]
    return [slot_key(str(s.path), *cover_size(W, H, s.zoom), s.focus) for s in stills]


def still_args(slot: Slot, out: Path) -> list[str]:
    """FFmpeg arguments writing one slot's frame, by the graph's own filters, as raw video."""
    path, cw, ch, *focus = slot
    frame = still_frame(path, None, cw, ch, focus=focus[0] if focus else None)
    return ffmpeg.output(frame, str(out), f="nut", vcodec="rawvideo", frames=1).get_args()
