"""Template previews: a short sample video and a contact sheet of its frames, made fully offline.

The sample is an ordinary workflow (generated gradient stills, an espeak voice, word captions, the
template's title card and transitions) run through the engine against a private FENTA_HOME
(`FENTA_HOME/previews`), so previews never show up in `fenta jobs` and a second preview of an
unchanged template is all cache hits. The contact sheet is one FFmpeg pass: the chosen frames,
scaled and laid out with the `tile` filter, reduced to a 256-colour palette to keep the PNG small.

    python -m fenta.ops.previews --docs      # regenerates docs/templates/NAME.png for every shipped
                                             # template and docs/templates/animation-STYLE.png
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import PathError, RenderError
from ..media.run import run_ffmpeg_sync
from ..template import list_templates, resolve_template

__all__ = ["Preview", "preview", "preview_settings", "sheet_size", "frame_times", "COLUMNS", "ROWS", "TILE"]

#: The contact sheet: COLUMNS x ROWS frames of the canvas's aspect, each as big as a 9:16 frame TILE high.
COLUMNS, ROWS, TILE = 3, 2, 320
_PAD = 6

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs" / "templates"
#: The caption animations docs/templates.md shows, each on this template.
ANIMATION_SAMPLES, ANIMATION_TEMPLATE = ("pop", "highlight", "chunk"), "square"

#: Gradient stills of the sample: three clearly different clips, so the transitions show.
_COLOURS = ["#1E3C72", "#DD2476", "#11998E", "#F7971E"]


@dataclass
class Preview:
    """A rendered preview: the sample video, its contact sheet and what they show."""

    template: str
    video: str
    sheet: str
    duration: float
    frames: list[float]
    sheet_size: tuple[int, int]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def preview_settings(settings: Settings) -> Settings:
    """The private FENTA_HOME previews run in (`FENTA_HOME/previews`: its own jobs, cache and logs).
    `fenta cache` and `fenta cache prune` cover its cache too (`ops.caches`)."""
    return dataclasses.replace(settings, home=settings.home / "previews")


def _tile_size(template: dict[str, Any]) -> tuple[int, int]:
    """One frame of the sheet: the canvas's aspect, as many pixels as a TILE-high 9:16 frame (even sizes)."""
    w, h = template["canvas"]["width"], template["canvas"]["height"]
    scale = (TILE * TILE * 9 / 16 / (w * h)) ** 0.5
    return max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)


def sheet_size(template: dict[str, Any]) -> tuple[int, int]:
    """Width and height (pixels) of a template's contact sheet."""
    tw, th = _tile_size(template)
    return COLUMNS * tw + (COLUMNS + 1) * _PAD, ROWS * th + (ROWS + 1) * _PAD


def _document(name: str, template: str, animation: str | None = None) -> dict[str, Any]:
    text = (
        f"This is the {name} template. Captions look like this, phrase by phrase, over your own clips. "
        "The title card, the transitions and the fonts all come from the template."
    )
    return {
        "version": 1,
        "name": f"preview-{name}" + (f"-{animation}" if animation else ""),
        "template": template,
        **({"overrides": {"subtitles": {"animation": animation}}} if animation else {}),
        "nodes": {
            "script": {"type": "Input.Text", "params": {"text": text}},
            "voice": {
                "type": "Voice.TTS",
                "params": {"engine": "espeak", "voice": "en-us", "rate": 15},
                "inputs": {"text": "script.text"},
            },
            "subs": {"type": "Subtitle", "inputs": {"words": "voice.words"}},
            "clips": {
                "type": "Input.Background",
                "params": {"style": "gradient", "count": 3, "colors": _COLOURS, "seed": 3},
            },
            "timeline": {
                "type": "Timeline",
                "params": {"title": "The title card"},
                "inputs": {
                    "clips": "clips.clips",
                    "voice": "voice.audio",
                    "subtitles": "subs.track",
                    "script": "script.text",
                },
            },
            "render": {
                "type": "Render",
                "params": {"profile": "360p", "thumbnail": False},
                "inputs": {"timeline": "timeline.timeline"},
            },
        },
    }


def frame_times(timeline: dict[str, Any], count: int = COLUMNS * ROWS) -> list[float]:
    """When to take the sheet's frames: the title card, the middle of each transition (just after a
    cut), then the moments farthest from those, so the frames span the whole sample."""
    duration = float(timeline["duration"])
    fps = float(timeline["canvas"].get("fps") or 30)
    last = duration - 2 / fps
    overlap = float((timeline.get("transition") or {}).get("seconds") or 0.0)
    chosen = [min(1.0, duration * 0.15)]
    for s in timeline["segments"][1:]:
        t = min(float(s["start"]) + max(overlap / 2, 0.25), last)
        if len(chosen) < count - 2 and all(abs(t - c) >= 0.4 for c in chosen):
            chosen.append(t)
    grid = [last * i / (4 * count) for i in range(1, 4 * count + 1)]
    while len(chosen) < count:
        chosen.append(max(grid, key=lambda g: min(abs(g - c) for c in chosen)))
    return sorted(round(t, 3) for t in chosen)


def _contact_sheet(video: Path, times: list[float], fps: float, tile: tuple[int, int], out: Path) -> None:
    """One PNG: the frames at `times`, scaled to `tile` and laid out COLUMNS x ROWS with FFmpeg's tile."""
    frames = sorted({round(t * fps) for t in times})
    pick = "+".join(f"eq(n\\,{n})" for n in frames)
    tw, th = tile
    graph = (
        f"[0:v]select='{pick}',scale={tw}:{th}:flags=lanczos,setsar=1,"
        f"tile={COLUMNS}x{ROWS}:padding={_PAD}:margin={_PAD}:color=white,split[a][b];"
        "[a]palettegen=max_colors=256:stats_mode=full[p];[b][p]paletteuse=dither=bayer:bayer_scale=3"
    )
    tmp = out.with_name(out.stem + ".part.png")
    try:
        run_ffmpeg_sync(
            ["-i", str(video), "-filter_complex", graph, "-frames:v", "1", "-update", "1", str(tmp)],
            what="contact sheet",
        )
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def _template_ref(name: str) -> tuple[str, str]:
    """(label for file names, what the workflow's `template:` says): a shipped name or an absolute path."""
    path = Path(name).expanduser()
    if name in list_templates() or not path.is_file():
        return name, name  # shipped, or unknown: resolve_template says so with the name as given
    return path.stem, str(path.resolve())


def preview(
    name: str,
    out_dir: str | Path = "previews",
    *,
    settings: Settings | None = None,
    animation: str | None = None,
) -> Preview:
    """Render a template's sample video and contact sheet into `out_dir` (NAME.mp4, NAME.png).

    `animation` shows the captions with that `subtitles.animation` (pop, highlight, chunk, none) instead of
    the template's own; the files are then NAME-ANIMATION.mp4 and .png.

    Offline: gradient stills, espeak, the template's fonts. Files are written whole (temporary names,
    then renamed) and replace earlier previews of the same name.

    Raises:
        TemplateError: unknown template or invalid template file.
        PathError: `out_dir` is a file or cannot be written (exit 2, before anything renders).
        RenderError: the sample did not render (the job's error).
    """
    import time

    from ..engine.runner import run_async
    from ..engine.spec import loads

    started = time.perf_counter()
    label, ref = _template_ref(name)
    overrides = {"subtitles": {"animation": animation}} if animation else None
    template = resolve_template(ref, overrides)  # a bad name or animation fails here, before anything runs
    shown, label = label, f"{label}-{animation}" if animation else label
    settings = settings or Settings.from_env()
    home = preview_settings(settings)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise PathError(f"{out} is a file, not a folder: give -o a folder for {label}.mp4 and {label}.png")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe_file = out / f".{label}.{os.getpid()}.write-test"
        probe_file.write_bytes(b"")  # fail here, in one line, rather than after the render
        probe_file.unlink()
    except OSError as e:
        raise PathError(f"cannot write previews in {out}: {e.strerror or e}") from None
    wf = loads(json.dumps(_document(shown, ref, animation)))
    with tempfile.TemporaryDirectory(prefix=f"preview-{label}-", dir=out) as tmp:
        result = asyncio.run(run_async(wf, out=tmp, name=label, overwrite=True, settings=home))
        if result.status != "completed" or not result.video:
            raise RenderError(f"the preview of '{label}' did not render: {result.error}")
        timeline = json.loads(Path(result.artifacts["timeline"]).read_text(encoding="utf-8"))
        times = frame_times(timeline)
        video = out / f"{label}.mp4"
        shutil.copyfile(result.video, Path(tmp) / "video.part")
        (Path(tmp) / "video.part").replace(video)
        sheet = out / f"{label}.png"
        _contact_sheet(video, times, float(template["canvas"]["fps"]), _tile_size(template), sheet)
    return Preview(
        label,
        str(video),
        str(sheet),
        float(timeline["duration"]),
        times,
        sheet_size(template),
        round(time.perf_counter() - started, 2),
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m fenta.ops.previews --docs`: the contact sheets docs/templates.md shows."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["--docs"]:
        print("usage: python -m fenta.ops.previews --docs", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        DOCS_DIR.mkdir(parents=True, exist_ok=True)
        for name in sorted(list_templates()):
            p = preview(name, tmp)
            shutil.copyfile(p.sheet, DOCS_DIR / f"{name}.png")
            size = (DOCS_DIR / f"{name}.png").stat().st_size
            print(
                f"{DOCS_DIR / f'{name}.png'}  {p.sheet_size[0]}x{p.sheet_size[1]}  "
                f"{size / 1024:.0f} KB  ({p.seconds:.1f} s)"
            )
        for style in ANIMATION_SAMPLES:
            p = preview(ANIMATION_TEMPLATE, tmp, animation=style)
            dest = DOCS_DIR / f"animation-{style}.png"
            shutil.copyfile(p.sheet, dest)
            kb = dest.stat().st_size / 1024
            print(f"{dest}  {p.sheet_size[0]}x{p.sheet_size[1]}  {kb:.0f} KB  ({p.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
