"""Values that flow between nodes through ports.

Every value is a pydantic model (or a list of them) so node results can be
checkpointed as JSON and hashed for the cache. Media travel as file paths.
"""

from __future__ import annotations

from typing import Annotated, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Clip", "Audio", "Word", "Scene", "SubtitleTrack", "Artifact", "PORT_TYPES", "port_type_name"]


#: A fraction of a frame's width or height.
Fraction = Annotated[float, Field(ge=0, le=1)]


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Clip(_Value):
    """A visual source for the timeline: a video, a still image or a solid/generated colour."""

    kind: Literal["video", "image", "color"]
    path: str | None = None
    color: str | None = None
    duration: float | None = Field(None, description="Natural length in seconds (None for stills).")
    width: int | None = None
    height: int | None = None
    rotation: int = 0
    has_audio: bool = False
    source: str | None = Field(None, description="Where it came from (file name, URL or generator).")
    scene: int | None = Field(None, description="Index of the script scene this clip illustrates.")
    focus: tuple[Fraction, Fraction] | None = Field(
        None, description="The point kept in frame when cropped to a canvas: x, y fractions (centre .5, .5)."
    )


class Audio(_Value):
    """An audio file and its duration in seconds."""

    path: str
    duration: float


class Word(_Value):
    """One written word and when it is spoken (seconds)."""

    text: str
    start: float
    end: float


class Scene(_Value):
    """One part of a script: what is said, and what to show while it is said."""

    narration: str
    visual: str | None = None


class SubtitleTrack(_Value):
    """Timed captions, as ASS (for burning in) and SRT (for upload).

    `words`, `keywords` and `style` (the caption style they were laid out with) let a render lay them
    out again for another canvas (`Render.renditions`)."""

    ass_path: str
    srt_path: str
    events: int
    words: list[Word] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    style: dict | None = None


class Artifact(_Value):
    """A file a run produced for the user.

    Nodes leave artifacts in the cache; the runner publishes them into the
    output folder under `name` (copied to a temporary name, then renamed).
    """

    kind: str = Field(description="video, subtitles-srt, subtitles-ass, thumbnail, timeline, credits, ...")
    path: str
    name: str
    duration: float | None = None


# Port type names shown by `fenta nodes` and used to check connections.
PORT_TYPES: dict[object, str] = {
    str: "text",
    list[str]: "text[]",
    list[Clip]: "clips",
    Audio: "audio",
    list[Word]: "words",
    list[Scene]: "scenes",
    SubtitleTrack: "track",
    list[Artifact]: "artifacts",
    float: "number",
}


def port_type_name(annotation: object) -> str:
    """The short port type name for a pydantic field annotation."""
    # Optional[X] -> X
    args = getattr(annotation, "__args__", None)
    if args and type(None) in args and len(args) == 2:
        annotation = next(a for a in args if a is not type(None))
    if annotation in PORT_TYPES:
        return PORT_TYPES[annotation]
    name = getattr(annotation, "port_name", None) or getattr(annotation, "__name__", str(annotation))
    return cast(str, name)
