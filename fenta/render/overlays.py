"""What is drawn over the montage: progress bar, title card, logo or watermark, and the captions."""

from __future__ import annotations

import re
from pathlib import Path

import ffmpeg

from ..media.probe import MediaInfo
from .fonts import FONTS_DIR
from .inputs import file_input, source_filter
from .phrases import wrap_title
from .timeline import Timeline

__all__ = ["overlays", "hex_colour", "colour_arg", "BOLD_FONT"]

_HEX = re.compile(r"^#?([0-9A-Fa-f]{6})([0-9A-Fa-f]{2})?$")
BOLD_FONT = FONTS_DIR / "DejaVuSans-Bold.ttf"


def hex_colour(color: str | None, default: str = "000000") -> tuple[str, float]:
    """'#RRGGBB[AA]' -> ('0xRRGGBB', opacity 0-1); anything else gives the default."""
    m = _HEX.match((color or "").strip())
    if not m:
        return "0x" + default, 1.0
    return "0x" + m.group(1), (int(m.group(2), 16) / 255 if m.group(2) else 1.0)


def colour_arg(color: str | None, default: str = "000000") -> str:
    c, a = hex_colour(color, default)
    return f"{c}@{a:.3f}"


def _text_file(textdir: Path, name: str, text: str) -> str:
    textdir.mkdir(parents=True, exist_ok=True)
    p = textdir / name
    p.write_text(text, encoding="utf-8")
    return str(p.resolve())


def overlays(
    video,
    tl: Timeline,
    W: int,
    H: int,
    fps: int,
    textdir: Path,
    infos: dict[str, MediaInfo],
    first_frame: int = 0,
):
    """Progress bar, title card, logo and captions over `video`, whose timestamps are the video's clock.

    `first_frame`: where `video` begins (a chunk of a longer video); the progress strip starts there too.
    """
    tpl = tl.template or {}
    zone = tpl.get("safe_zone") or {"top": 0.1, "bottom": 0.2, "left": 0.06, "right": 0.06}
    scale = W / tl.canvas["width"]
    L, R, T, B = int(W * zone["left"]), int(W * zone["right"]), int(H * zone["top"]), int(H * zone["bottom"])
    font = str(BOLD_FONT)
    D = tl.duration

    bar = tpl.get("progress_bar")
    if bar:
        h = max(2, int(round(bar["height"] * scale)))
        c, _ = hex_colour(bar["color"], "FFD400")
        strip = source_filter("color", -1, c=c, s=f"{W}x{h}", r=fps, d=f"{D - first_frame / fps:.4f}")
        if first_frame:
            strip = strip.filter("setpts", f"PTS+{first_frame}/({fps}*TB)")
        y: int | str = T if bar["position"] == "top" else H - B - h
        video = ffmpeg.overlay(video, strip, x=f"-w+w*t/{D:.4f}", y=y, eof_action="pass", shortest=0)

    card = tpl.get("title_card")
    if card and tl.title:
        # Balanced lines measured with the bundled font (a greedy wrap left "blood." alone on the last line).
        # At most half the safe zone's height: on a wide canvas the card must leave room for the captions.
        width = W - L - R - int(0.06 * W)
        text, size = wrap_title(tl.title, int(card["size"] * scale), width, max_height=(H - T - B) / 2)
        pad = max(4, size // 3)
        pos = card.get("position", "center")
        y = {"top": f"{T + pad}", "bottom": f"{H - B - pad}-text_h", "center": f"{T}+({H - T - B}-text_h)/2"}[
            pos
        ]
        fade = min(0.4, card["seconds"] / 3)
        video = video.filter(
            "drawtext",
            fontfile=font,
            textfile=_text_file(textdir, "title.txt", text),
            expansion="none",
            fontsize=size,
            fontcolor=colour_arg(card["color"], "FFFFFF"),
            line_spacing=int(size * 0.15),
            text_align="center",
            x="(w-text_w)/2",
            y=y,
            box=1,
            boxcolor=colour_arg(card["box_color"]),
            boxborderw=pad,
            alpha=f"if(lt(t,{card['seconds'] - fade:.3f}),1,max(0,({card['seconds']:.3f}-t)/{fade:.3f}))",
            enable=f"lt(t,{card['seconds']:.3f})",
        )

    logo = tpl.get("logo")
    if logo:
        corner = logo["position"]
        right, bottom = corner.endswith("right"), corner.startswith("bottom")
        if logo.get("path"):
            lw = max(2, int(W * logo["width"]) // 2 * 2)
            info = infos.get(logo["path"])
            img = file_input(logo["path"], info).video.filter("trim", end_frame=1)
            img = img.filter("scale", lw, -2, flags="bicubic").filter("format", "rgba")
            if logo["opacity"] < 1:
                img = img.filter("colorchannelmixer", aa=f"{logo['opacity']:.3f}")
            x = f"{W - R}-w" if right else f"{L}"
            y = f"{H - B}-h" if bottom else f"{T}"
            video = ffmpeg.overlay(video, img, x=x, y=y, eof_action="repeat", format="yuv420")
        elif logo.get("text"):
            size = max(8, int(logo["size"] * scale))
            # Keep the watermark inside the safe zone: shrink long text to the width available.
            size = max(6, min(size, int((W - L - R) / (0.62 * max(1, len(logo["text"]))))))
            c, _ = hex_colour(logo["color"], "FFFFFF")
            video = video.filter(
                "drawtext",
                fontfile=font,
                textfile=_text_file(textdir, "watermark.txt", logo["text"].replace("\n", " ")),
                expansion="none",
                fontsize=size,
                fontcolor=f"{c}@{logo['opacity']:.3f}",
                x=f"{W - R}-text_w" if right else f"{L}",
                y=f"{H - B}-text_h" if bottom else f"{T}",
                borderw=max(1, size // 16),
                bordercolor=f"0x000000@{logo['opacity'] * 0.6:.3f}",
            )
    if tl.subtitles_ass:
        video = video.filter(
            "subtitles", filename=str(Path(tl.subtitles_ass).resolve()), fontsdir=str(FONTS_DIR)
        )
    return video
