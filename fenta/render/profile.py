"""Output profiles: the size and encoder settings of a render (1080p, 720p, ..., preview, canvas)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Profile", "PROFILES", "output_size"]

_SHORT_SIDE = {"1080p": 1080, "720p": 720, "480p": 480, "360p": 360, "preview": 360}
PROFILES = tuple(_SHORT_SIDE) + ("canvas",)


@dataclass(frozen=True)
class Profile:
    """Encoder settings; the defaults match the benchmark's (x264 veryfast crf 23, AAC).

    `encoder` is one of `encoders.CHOICES`: x264, a hardware encoder, or auto (see `fenta.render.encoders`).
    """

    name: str = "1080p"
    preset: str = "veryfast"
    crf: int = 23
    audio_bitrate: str = "192k"
    encoder: str = "x264"

    @classmethod
    def preview(cls, encoder: str = "x264") -> Profile:
        """A quick low-resolution draft: 360p short side, fastest x264 preset."""
        return cls(name="preview", preset="ultrafast", crf=30, audio_bitrate="96k", encoder=encoder)


def output_size(canvas: dict, profile: str) -> tuple[int, int]:
    """Output width and height: the canvas aspect at the profile's short side (even numbers)."""
    w, h = canvas["width"], canvas["height"]
    short = _SHORT_SIDE.get(profile)
    if short is None:
        return w - w % 2, h - h % 2
    s = short / min(w, h)
    return int(round(w * s / 2)) * 2, int(round(h * s / 2)) * 2
