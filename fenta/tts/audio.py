"""PCM helpers shared by the speech engines: read, write, decode, and join chunks without clicks."""

from __future__ import annotations

import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Chunk", "read_wav", "write_wav", "decode_to_pcm", "join_chunks", "sound_bounds"]


@dataclass
class Chunk:
    """One synthesised piece of text: mono int16 samples and its words (seconds from the chunk start)."""

    samples: np.ndarray
    rate: int
    words: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono 16-bit WAV -> (int16 samples, sample rate)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        if w.getnchannels() > 1:
            data = data.reshape(-1, w.getnchannels()).mean(axis=1).astype(np.int16)
        return data.copy(), w.getframerate()


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> Path:
    """Write mono int16 samples as a WAV file (written to a temporary name, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype=np.int16).tobytes())
    tmp.replace(path)
    return path


def decode_to_pcm(path: str | Path, rate: int) -> np.ndarray:
    """Decode any audio file FFmpeg reads into mono int16 samples at `rate`."""
    import subprocess

    from ..errors import MediaError
    from ..media.ffmpeg import ffmpeg_exe

    proc = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(path),
            "-ac",
            "1",
            "-ar",
            str(rate),
            "-f",
            "s16le",
            "-",
        ],
        capture_output=True,
    )
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise MediaError(
            f"cannot decode audio {path}: {tail[-1] if tail else 'ffmpeg failed'}", file=str(path)
        )
    return np.frombuffer(proc.stdout, dtype=np.int16).copy()


def sound_bounds(samples: np.ndarray, rate: int, *, threshold: float = 0.01) -> tuple[float, float]:
    """(first, last) second where the signal rises above `threshold` of its peak (10 ms frames)."""
    a = np.abs(samples.astype(np.float32))
    frame = max(1, rate // 100)
    n = len(a) // frame
    if n == 0:
        return 0.0, len(samples) / rate
    peaks = a[: n * frame].reshape(n, frame).max(axis=1)
    loud = np.nonzero(peaks > threshold * max(float(peaks.max()), 1.0))[0]
    if len(loud) == 0:
        return 0.0, len(samples) / rate
    return loud[0] * frame / rate, min(len(samples), (loud[-1] + 1) * frame) / rate


def _fade(samples: np.ndarray, n: int) -> np.ndarray:
    """Linear fade-in and fade-out of `n` samples at both ends (kills DC steps at cut points)."""
    out = samples.astype(np.float32)
    n = min(n, len(out) // 2)
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        out[:n] *= ramp
        out[-n:] *= ramp[::-1]
    return out


def join_chunks(
    chunks: list[Chunk], *, pause: float = 0.35, edge: float = 0.05, fade: float = 0.005
) -> Chunk:
    """Join chunks sample-exactly with an even pause between them.

    Each inner boundary is trimmed to `edge` seconds of its own silence, faded
    over `fade` seconds (no click even if a chunk ends mid-waveform) and
    separated by digital silence so the total gap is `pause`. Word times are
    shifted by exactly the samples placed before them.
    """
    if not chunks:
        raise ValueError("nothing to join")
    rate = chunks[0].rate
    if any(c.rate != rate for c in chunks):
        raise ValueError("chunks have different sample rates")
    if len(chunks) == 1:
        return chunks[0]
    parts: list[np.ndarray] = []
    words: list[tuple[str, float, float]] = []
    pos = 0  # samples written so far
    n_fade = int(rate * fade)
    for i, c in enumerate(chunks):
        first, last = sound_bounds(c.samples, rate)
        a = 0 if i == 0 else max(0, int((first - edge) * rate))
        b = len(c.samples) if i == len(chunks) - 1 else min(len(c.samples), int((last + edge) * rate))
        # Keep every word inside the kept span even if the detector cut into it.
        if c.words:
            a = min(a, int(c.words[0][1] * rate))
            b = max(b, min(len(c.samples), int(np.ceil(c.words[-1][2] * rate))))
        piece = _fade(c.samples[a:b], n_fade) if len(chunks) > 1 else c.samples[a:b].astype(np.float32)
        if i > 0:
            gap = max(0, int(pause * rate) - int(edge * rate) * 2)
            parts.append(np.zeros(gap, dtype=np.float32))
            pos += gap
        shift = (pos - a) / rate
        words += [(w, s + shift, e + shift) for w, s, e in c.words]
        parts.append(piece)
        pos += len(piece)
    samples = np.clip(np.concatenate(parts), -32768, 32767).astype(np.int16)
    return Chunk(samples, rate, words)
