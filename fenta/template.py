"""Montage templates: YAML files describing canvas, pacing, transitions and caption style.

Shipped templates live in `templates/` (inside the wheel as `fenta/templates`).
A workflow names one (or a path) with `template:` and may override any field
with `overrides:`; the merged result is validated here.

Template files are read strictly, as workflows are (`fenta.documents`): a key written twice or a
`!!python/...` tag is a problem with its file, line and field, not silently resolved.

A low-level module (it needs only `fenta.errors` and `fenta.documents`): the engine validates a
workflow's template with it and the nodes and render read the resolved dict, so neither has to
import the other.
`fenta.render.templates` re-exports it.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from .documents import field_path, read_document
from .errors import Problem, TemplateError
from .policy import TRUSTED, Policy

__all__ = [
    "Template",
    "TemplateError",
    "resolve_template",
    "template_dirs",
    "list_templates",
    "DEFAULT_TEMPLATE",
    "TRANSITIONS",
    "merge_fields",
]

DEFAULT_TEMPLATE = "karaoke-bold"

#: Transition kinds: "cut", or an FFmpeg xfade transition name.
TRANSITIONS = (
    "cut",
    "fade",
    "fadeblack",
    "fadewhite",
    "dissolve",
    "wipeleft",
    "wiperight",
    "wipeup",
    "wipedown",
    "slideleft",
    "slideright",
    "slideup",
    "slidedown",
    "smoothleft",
    "smoothright",
    "circleopen",
    "circleclose",
    "radial",
    "zoomin",
    "distance",
    "pixelize",
)
_HEX_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")
_ASPECT = re.compile(r"^[1-9][0-9]?:[1-9][0-9]?$")


def _color(v: str) -> str:
    if not _HEX_COLOR.match(v):
        raise ValueError(f"'{v}' is not a colour like #FFD400 (or #000000A0 with opacity)")
    return v.upper()


Color = Annotated[str, AfterValidator(_color)]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Canvas(_M):
    width: int = Field(1080, ge=64, le=4096)
    height: int = Field(1920, ge=64, le=4096)
    fps: int = Field(30, ge=1, le=120)


class SafeZone(_M):
    """Margins (fractions of the frame) kept clear of captions and overlays."""

    top: float = Field(0.1, ge=0, le=0.45)
    bottom: float = Field(0.2, ge=0, le=0.45)
    left: float = Field(0.06, ge=0, le=0.45)
    right: float = Field(0.06, ge=0, le=0.45)


class Pacing(_M):
    min_clip: float = Field(2.0, gt=0, description="Shortest time one clip stays on screen (s).")
    max_clip: float = Field(6.0, gt=0, description="Longest time before cutting to the next clip (s).")
    motion: Literal["kenburns", "none"] = Field(
        "kenburns", description="Slow zoom on stills (kenburns) or none."
    )
    zoom: float = Field(1.12, ge=1.0, le=2.0, description="Ken Burns end zoom factor for stills.")
    follow_scenes: bool = Field(True, description="Show each scene's clips while that scene is spoken.")

    @model_validator(mode="after")
    def _order(self) -> Pacing:
        if self.min_clip > self.max_clip:
            raise ValueError("min_clip must not be larger than max_clip")
        return self


class Transition(_M):
    # pydantic reads Literal[a tuple] as one of its items; mypy wants the items written out
    type: Literal[TRANSITIONS] = Field(  # type: ignore[valid-type]
        "cut", description="cut, or an xfade kind: " + ", ".join(TRANSITIONS[1:])
    )
    seconds: float = Field(0.4, ge=0, le=3)


class SubtitleStyle(_M):
    font: str = "DejaVu Sans"
    size: int = Field(80, ge=8, le=400)
    bold: bool = True
    color: Color = "#FFFFFF"
    highlight_color: Color = "#FFD400"
    outline_color: Color = "#000000"
    outline: float = Field(5, ge=0, le=40)
    shadow: float = Field(2, ge=0, le=40)
    box: bool = False
    box_color: Color = "#000000A0"
    position: Literal["bottom", "center", "top"] = "bottom"
    words_per_line: int = Field(3, ge=1, le=20)
    max_chars_per_line: int = Field(22, ge=4, le=120)
    lines: int = Field(1, ge=1, le=4)
    karaoke: bool = True
    uppercase: bool = True
    min_seconds: float = Field(0.6, ge=0)
    max_seconds: float = Field(4.0, gt=0)
    animation: Literal["none", "pop", "highlight", "chunk"] = Field(
        "none",
        description="pop: words scale in as spoken; highlight: the spoken word on a box; chunk: 2-4 words.",
    )
    chunk_words: int = Field(3, ge=2, le=4, description="Words shown at a time by the chunk animation.")
    emphasis_color: Color | None = Field(
        None, description="Colour of the script's keywords (Script.Gen's keywords)."
    )


class Music(_M):
    level_db: float = Field(-18, ge=-60, le=0, description="Music bed gain in dB before mixing.")
    ducking: bool = Field(True, description="Lower the music under the voice (sidechain compression).")
    duck_ratio: float = Field(8, ge=1, le=20, description="Compression ratio while the voice speaks.")
    duck_threshold: float = Field(
        0.02, gt=0, le=1, description="Voice level (linear) above which ducking starts."
    )
    fade_out: float = Field(1.5, ge=0, le=10, description="Music fade-out at the end (s).")


class Logo(_M):
    """A logo image or a text watermark, placed in a corner inside the safe zone."""

    path: str | None = Field(None, description="Image file (PNG with transparency works best).")
    text: str | None = Field(None, description="Watermark text, used when there is no path.")
    position: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = "top-right"
    width: float = Field(0.18, gt=0, le=1, description="Logo width as a fraction of the frame width.")
    size: int = Field(36, ge=8, le=400, description="Watermark text size (px on the canvas).")
    color: Color = "#FFFFFF"
    opacity: float = Field(0.85, ge=0, le=1)

    @model_validator(mode="after")
    def _one_source(self) -> Logo:
        if not self.path and not self.text:
            raise ValueError("a logo needs a 'path' (image) or a 'text' (watermark)")
        return self


class TitleCard(_M):
    text: str | None = Field(None, description="Hook text; defaults to the script's hook when it has one.")
    seconds: float = Field(2.5, gt=0, le=10, description="How long the card stays (from the start).")
    size: int = Field(96, ge=8, le=400, description="Text size (px on the canvas); shrinks to fit.")
    position: Literal["top", "center", "bottom"] = "center"
    color: Color = "#FFFFFF"
    box_color: Color = "#000000B0"


class ProgressBar(_M):
    color: Color = "#FFD400"
    height: int = Field(12, ge=1, le=100)
    position: Literal["top", "bottom"] = "top"


class Template(_M):
    """A montage template; every field has a sensible default."""

    name: str = "custom"
    description: str = ""
    canvas: Canvas = Canvas()
    safe_zone: SafeZone = SafeZone()
    pacing: Pacing = Pacing()
    transition: Transition = Transition()
    subtitles: SubtitleStyle = SubtitleStyle()
    music: Music = Music()
    loudness: float = Field(-14.0, ge=-40, le=-5, description="Target integrated loudness (LUFS).")
    background: Color = Field("#1E2A3A", description="Colour used when nothing else is shown.")
    logo: Logo | None = None
    title_card: TitleCard | None = None
    progress_bar: ProgressBar | None = None
    aspects: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Values for other aspects (Render.renditions): {"16:9": {safe_zone: {bottom: 0.1}}}.',
    )

    @model_validator(mode="after")
    def _aspect_keys(self) -> Template:
        for key, over in self.aspects.items():
            if not _ASPECT.match(key):
                raise ValueError(f"aspects: '{key}' is not an aspect like 9:16, 1:1 or 16:9")
            fixed = sorted({"canvas", "aspects", "name"} & set(over))
            if fixed:
                raise ValueError(f"aspects.{key}: '{fixed[0]}' cannot change per aspect (the aspect sets it)")
        return self


def template_dirs() -> list[Path]:
    """Folders searched for shipped templates: inside the package, then the source tree."""
    here = Path(__file__).resolve().parent
    return [d for d in (here / "templates", here.parent / "templates") if d.is_dir()]


def list_templates() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in template_dirs():
        for p in sorted(d.glob("*.yaml")):
            found.setdefault(p.stem, p)
    return found


def merge_fields(base: dict, over: dict) -> dict:
    """`over`'s fields over `base`'s, mappings merged field by field (what `overrides:` does)."""
    return _deep_merge(base, over)


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _read(path: Path) -> tuple[dict, list[Problem]]:
    """A template file's values, and what strict reading refused (a key written twice, a non-core tag).

    Read like a workflow (`fenta.documents.read_document`), so a duplicated key is not silently
    resolved to its last value and `!!python/...` is never constructed.
    """
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TemplateError([Problem("not a UTF-8 text file", file=file)]) from None
    tree, _, issues = read_document(text, file, kind="template", error=TemplateError, allow_empty=True)
    data = tree or {}  # an empty file: every field at its default
    if not isinstance(data, dict):
        raise TemplateError([Problem("a template must be a mapping", file=file)])
    return data, [Problem(i.message, file=file, line=i.line, field=field_path(i.path)) for i in issues]


def _aspect_problems(resolved: dict[str, Any], source: str) -> list[Problem]:
    """What is wrong with each aspect's values once merged over the template (field `aspects.16:9.x`)."""
    problems = []
    base = {k: v for k, v in resolved.items() if k != "aspects"}
    for key, over in (resolved.get("aspects") or {}).items():
        try:
            Template.model_validate(_deep_merge(base, over))
        except ValidationError as e:
            for err in e.errors():
                loc = ".".join(str(p) for p in err["loc"])
                msg = "unknown template field" if err["type"] == "extra_forbidden" else err["msg"]
                msg = msg.replace("Input should be", "should be", 1).removeprefix("Value error, ")
                problems.append(Problem(msg, file=source, field=f"aspects.{key}.{loc}"))
    return problems


def resolve_template(
    name: str | None,
    overrides: dict[str, Any] | None = None,
    *,
    base_dir: Path | None = None,
    policy: Policy = TRUSTED,
) -> dict[str, Any]:
    """Load a template by name or path, apply overrides, validate, and return it as a dict.

    Under an untrusted `policy` a template given as a path, and a logo file (from the template or
    `overrides`), must lie inside FENTA_ALLOWED_DIRS; the check comes before the file is looked at.
    Shipped templates, and fonts (named by family, found among the bundled and installed fonts), are
    always allowed.

    Raises:
        TemplateError: unknown template, unreadable file, a file the policy refuses, or invalid fields
            (all listed).
    """
    name = name or DEFAULT_TEMPLATE
    shipped = list_templates()
    source: str
    if name in shipped:
        path = shipped[name]
    else:
        path = Path(name)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        known = ", ".join(sorted(shipped)) or "none"
        as_file = path.suffix.lower() in (".yaml", ".yml") or "/" in name or os.sep in name
        off_limits = policy.file_problem(path)
        if off_limits is not None:  # before the file is looked at: the answer says nothing of what exists
            unknown = f"unknown template '{name}' (shipped: {known})"
            message = f"{off_limits}; shipped templates are allowed: {known}" if as_file else unknown
            raise TemplateError([Problem(message, field="template")])
        if not path.is_file():
            if as_file:  # meant as a file
                what = "a folder, not a template file" if path.is_dir() else "template file not found"
                raise TemplateError(
                    [Problem(f"{what}: {path} (or use a shipped one: {known})", field="template")]
                )
            raise TemplateError([Problem(f"unknown template '{name}' (shipped: {known})", field="template")])
    source = str(path)
    data, refused = _read(path)
    data.setdefault("name", path.stem)
    if overrides:
        if not isinstance(overrides, dict):
            raise TemplateError(
                [Problem("'overrides' must be a mapping of template fields", field="overrides")]
            )
        data = _deep_merge(data, overrides)
    problems = list(refused)
    resolved: dict[str, Any] | None = None
    try:
        resolved = Template.model_validate(data).model_dump(mode="json")
    except ValidationError as e:
        fields = {p.field for p in refused}
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            if loc in fields:
                continue  # a value refused while reading (a tag) needs no second complaint about its type
            if err["type"] == "extra_forbidden":
                msg = "unknown template field"
            elif err["type"] == "value_error":
                msg = err["msg"].removeprefix("Value error, ")
            else:
                got = err.get("input")
                msg = err["msg"].replace("Input should be", "should be", 1) + (
                    "" if isinstance(got, (dict, list)) else f" (got {got!r})"
                )
            problems.append(Problem(msg, file=source, field=loc or None))
    if resolved is not None:
        problems += _aspect_problems(resolved, source)
    if problems or resolved is None:
        raise TemplateError(problems)
    logo = (resolved.get("logo") or {}).get("path")
    off_limits = policy.file_problem(logo) if logo else None  # drawn by FFmpeg from the current folder
    if off_limits is not None:
        given = (overrides or {}).get("logo")
        from_overrides = isinstance(given, dict) and "path" in given
        raise TemplateError([Problem(off_limits, file=None if from_overrides else source, field="logo.path")])
    return resolved
