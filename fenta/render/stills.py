"""Large stills, scaled down to their slot once, before the render.

FFmpeg decodes the first frame of every input before its filter graph starts and
holds it until that input's turn comes: twenty 6000x4000 photos held 2.9 GiB, and
the first frame waited for all of them to decode. So each still with far more
pixels than its slot needs is cropped and scaled to that slot in a short FFmpeg
run of its own, by the very filters the graph would apply, while the probes and
the loudness pass run. The render then reads a small raw frame: same pixels,
about 4 MiB held per 1080p slot.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..errors import MediaError, RenderError
from ..media.run import run_ffmpeg

__all__ = ["PREPARE_ABOVE", "Slot", "pixel_count", "slots_to_prepare", "prepare_stills"]

#: A still is prepared when it has more than this many times the pixels of its slot.
PREPARE_ABOVE = 2.0

#: (still path as the timeline names it, slot width, slot height[, focus (x, y) when not the centre])
Slot = tuple[Any, ...]


def pixel_count(path: str | os.PathLike) -> int | None:
    """Pixels of a still image, read from its header only; None if not a single still Pillow knows."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if getattr(im, "n_frames", 1) > 1:
                return None  # animated: a clip, not a still
            w, h = im.size
    except Exception:  # missing, unreadable or unknown: left to the graph, whose probe names the file
        return None
    return w * h


def slots_to_prepare(slots: Iterable[Slot]) -> list[Slot]:
    """The slots whose still is large enough to be worth preparing (each slot once)."""
    return [s for s in dict.fromkeys(slots) if (n := pixel_count(s[0])) and n > PREPARE_ABOVE * s[1] * s[2]]


async def prepare_stills(
    candidates: Iterable[Slot], workdir: Path, args_for: Callable[[Slot, Path], list[str]]
) -> dict[Slot, Path]:
    """Write the frame of each large still's slot as raw video in `workdir`, as many at once as cores.

    Args:
        candidates: Every still slot of the timeline; only the large ones are prepared.
        args_for: FFmpeg arguments that write one slot's frame to a path.

    Returns:
        The prepared slots and their files.

    Raises:
        MediaError: FFmpeg could not decode a still (names the file).
    """
    slots = await asyncio.to_thread(slots_to_prepare, candidates)
    if not slots:
        return {}
    workdir.mkdir(parents=True, exist_ok=True)
    gate = asyncio.Semaphore(os.cpu_count() or 2)

    async def prepare(i: int, slot: Slot) -> tuple[Slot, Path]:
        out = workdir / f"still{i}.nut"
        async with gate:
            try:
                await run_ffmpeg(args_for(slot, out), what="preparing a still")
            except RenderError as e:
                if e.returncode is not None and e.returncode < 0:
                    raise  # FFmpeg crashed: not the image's fault, and the message says so
                raise MediaError(f"cannot decode this image ({e.reason})", file=slot[0]) from None
        return slot, out

    tasks = [asyncio.ensure_future(prepare(i, s)) for i, s in enumerate(slots)]
    try:
        return dict(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
