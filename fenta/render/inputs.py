"""The files a timeline reads: listing and probing them, and opening each as an FFmpeg input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ffmpeg

from ..errors import MediaError
from ..media.probe import MediaInfo, probe_many
from .timeline import Timeline

__all__ = ["input_files", "probe_inputs", "file_input", "source_filter"]


def input_files(tl: Timeline) -> list[tuple[str, str]]:
    """(role, path) of every file the timeline reads."""
    files: list[tuple[str, str]] = []
    for i, s in enumerate(tl.segments):
        if s.kind != "color":
            if not s.path:
                raise MediaError(f"segment {i} ({s.kind}) has no path", field=f"segments.{i}.path")
            files.append((f"segments.{i}.path", s.path))
    if tl.voice:
        files.append(("voice.path", tl.voice.path))
    if tl.music:
        files.append(("music.path", tl.music.path))
    if tl.subtitles_ass:
        files.append(("subtitles_ass", tl.subtitles_ass))
    logo = (tl.template or {}).get("logo") or {}
    if logo.get("path"):
        files.append(("template.logo.path", logo["path"]))
    return files


def probe_inputs(tl: Timeline, known: dict[str, MediaInfo] | None = None) -> dict[str, MediaInfo]:
    """Probe every media input once; refuse unusable ones with a MediaError naming the file.

    `known`: probes made already (another rendition's), kept and not made again.

    Raises:
        MediaError: missing, unreadable, or the wrong kind (audio where a picture is expected...).
    """
    files = input_files(tl)
    for field, path in files:
        if field == "subtitles_ass" and not Path(path).is_file():
            raise MediaError("subtitle file not found", file=path, field=field)
    media: dict[str, str] = {}
    for field, path in files:
        if field != "subtitles_ass" and path not in (known or {}):
            media.setdefault(path, field)
    if not media:
        return dict(known or {})

    # One FFmpeg process reads every header (a process per file cost ~0.15 s more on 2 cores).
    try:
        results = probe_many(list(media))
    except MediaError as e:
        bad = next((p for p in media if Path(p) == Path(e.file or "")), e.file)
        raise MediaError(e.message, file=bad, field=media.get(bad or "")) from None
    infos: dict[str, MediaInfo] = dict(known or {})
    for (path, field), info in zip(media.items(), results):
        wants_picture = field.startswith("segments.") or field.startswith("template.logo")
        if wants_picture and not (info.has_video and info.width and info.height):
            what = "is audio only" if info.has_audio else "has no readable picture"
            raise MediaError(f"{what}; expected an image or a video clip", file=path, field=field)
        if not wants_picture and not info.has_audio:
            raise MediaError("has no audio stream", file=path, field=field)
        infos[path] = info
    return infos


def file_input(
    path: str, info: MediaInfo | None, still: bool = False, *, self_describing: bool = False, **opts: Any
):
    """An ffmpeg-python input for a local file, safe for any file name.

    Args:
        self_describing: The file's header states all FFmpeg needs (a raw frame fenta wrote).
    """
    p = str(Path(path).resolve())
    still = still or (info is not None and info.is_still)
    if still and "%" in p:
        # The image2 demuxer treats '%' as a sequence pattern; this is one file.
        opts.update(f="image2", pattern_type="none")
    if (
        still
        or self_describing
        or Path(p).suffix.lower() == ".wav"
        or (info is not None and (info.audio_codec or "").startswith("pcm_"))
    ):
        # FFmpeg's stream-info pass decodes a still once more before the real decode and reads
        # 50 packets of a WAV: 10-30 ms each, one input after another, before the first frame.
        # A still's decoder and a WAV's header give everything that pass would find.
        opts["nofind_stream_info"] = None
    # 'file:' keeps a name with a colon from being taken as a protocol.
    return ffmpeg.input("file:" + p, **opts)


class _SourceNode(ffmpeg.nodes.FilterNode):
    """A source filter inside the graph (ffmpeg-python only knows filters that have inputs)."""

    def __init__(self, name: str, uid: int, **kwargs: Any) -> None:
        # ffmpeg-python merges nodes with equal arguments; `uid` enters the node's hash, not the graph.
        ffmpeg.nodes.Node.__init__(
            self,
            stream_spec=None,
            name=name,
            incoming_stream_types={ffmpeg.nodes.FilterableStream},
            outgoing_stream_type=ffmpeg.nodes.FilterableStream,
            min_inputs=0,
            max_inputs=0,
            args=[],
            kwargs={**kwargs, "_uid": uid},
        )
        del self.kwargs["_uid"]


def source_filter(name: str, uid: int, **kwargs: Any):
    """A generated stream (colour, silence) made by a filter in the graph, not by an `-i` input.

    An `-i lavfi` input runs in its own thread and produces frames as fast as it can; next to a
    transition those frames pile up in the graph (measured: +600 MiB for six colour slots with fades).
    A source filter only makes a frame when one is asked for.
    """
    return _SourceNode(name, uid, **kwargs).stream()
