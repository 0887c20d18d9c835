"""Which H.264 encoder a render uses: x264 on the CPU, or a hardware encoder when one works.

`--encoder` (and the Render node's `encoder` param) takes one of `CHOICES`:

* `x264` (the default): libx264 with the profile's preset and CRF (veryfast, 23).
* `nvenc`, `qsv`, `vaapi`, `videotoolbox`: that hardware encoder, with settings chosen to
  match x264 veryfast CRF 23 (see `HARDWARE`).
* `auto`: the first hardware encoder that works on this machine, else x264.

Whether a hardware encoder works is found out by a tiny test encode (ten 256x256 frames),
once per machine: the answers are kept in FENTA_HOME/cache/encoders.json per FFmpeg binary
(resolved path, mtime, size) like the FFmpeg check in `fenta.media.ffmpeg`. An encoder that
is missing or fails - in the test or later in a render - is replaced by x264 with a one-line
notice; a job never fails for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

from ..config import Settings
from ..media.verdicts import BinaryVerdicts

__all__ = [
    "CHOICES",
    "HARDWARE",
    "Encoder",
    "X264",
    "EncoderCheck",
    "check_encoder",
    "check_all",
    "usable_encoders",
    "resolve_encoder",
]

log = logging.getLogger("fenta")

CHOICES = ("auto", "x264", "nvenc", "qsv", "vaapi", "videotoolbox")

#: The render node for VAAPI on Linux (the first GPU).
VAAPI_DEVICE = "/dev/dri/renderD128"


@dataclass(frozen=True)
class Encoder:
    """An H.264 encoder and how a render drives it.

    Attributes:
        name: The `--encoder` value ("x264", "nvenc"...).
        codec: FFmpeg's encoder ("libx264", "h264_nvenc"...).
        options: Output options besides the profile's (ffmpeg-python keyword arguments).
        pix_fmt: The pixel format handed to the encoder (None: frames already on the device).
        upload: Filters that move frames to the device before encoding (VAAPI).
        global_args: FFmpeg options before the inputs (VAAPI's device).
    """

    name: str
    codec: str
    options: dict[str, object] = field(default_factory=dict)
    pix_fmt: str | None = "yuv420p"
    upload: tuple[str, ...] = ()
    global_args: tuple[str, ...] = ()

    @property
    def hardware(self) -> bool:
        return self.name != "x264"

    def output_options(self, preset: str, crf: int) -> dict[str, object]:
        """ffmpeg-python output options for a profile's x264 preset and CRF.

        A hardware encoder ignores the x264 preset; its quality setting follows the CRF's
        distance from 23 (each step the same way as x264's).
        """
        if not self.hardware:
            return {"vcodec": self.codec, "preset": preset, "crf": crf, "pix_fmt": self.pix_fmt}
        opts = {"vcodec": self.codec, **({"pix_fmt": self.pix_fmt} if self.pix_fmt else {}), **self.options}
        for key in ("cq", "global_quality", "qp"):
            if key in opts:
                opts[key] = max(1, min(51, int(opts[key]) + crf - 23))  # type: ignore[call-overload]
        if "q:v" in opts:  # VideoToolbox: 1-100, higher is better; ~2.5 points per CRF step
            opts["q:v"] = max(1, min(100, int(opts["q:v"]) - round(2.5 * (crf - 23))))  # type: ignore[call-overload]
        return opts


X264 = Encoder("x264", "libx264")

#: Hardware encoders, in the order `auto` tries them, with settings matched to x264 veryfast CRF 23
#: (constant-quality modes, no bitrate cap, B-frames as x264 veryfast uses them). The quality levels
#: are the usual equivalents (NVENC CQ 23-24 ~ x264 CRF 23 at veryfast); they are a starting point
#: until measured on a machine with each GPU (docs/performance.md says which were).
HARDWARE: dict[str, Encoder] = {
    "nvenc": Encoder(
        "nvenc",
        "h264_nvenc",
        # p4 + high quality tuning, VBR with a CQ target and no bitrate cap, spatial AQ (x264 runs AQ
        # too), 3 B-frames and 10 frames of look-ahead (x264 veryfast: bframes 3, rc-lookahead 10).
        {
            "preset": "p4",
            "tune": "hq",
            "rc": "vbr",
            "cq": 24,
            "b:v": 0,
            "spatial-aq": 1,
            "bf": 3,
            "rc-lookahead": 10,
            "profile:v": "high",
        },
    ),
    "qsv": Encoder(
        "qsv",
        "h264_qsv",
        # ICQ (intelligent constant quality): global_quality without a bitrate.
        {"preset": "faster", "global_quality": 23, "look_ahead": 0, "bf": 3, "profile:v": "high"},
        pix_fmt="nv12",
    ),
    "vaapi": Encoder(
        "vaapi",
        "h264_vaapi",
        # Constant QP (every VAAPI driver has it); I and B frames get the driver's offsets.
        {"rc_mode": "CQP", "qp": 23, "bf": 3, "profile:v": "high"},
        pix_fmt=None,
        upload=("format=nv12", "hwupload"),
        global_args=("-vaapi_device", VAAPI_DEVICE),
    ),
    "videotoolbox": Encoder(
        "videotoolbox",
        "h264_videotoolbox",
        # Constant quality (Apple silicon); `allow_sw 0`: a software fallback in VideoToolbox fails the test.
        {"q:v": 60, "allow_sw": 0, "profile:v": "high"},
    ),
}


def encoder_for(name: str) -> Encoder:
    """The encoder named `name` ("x264", "nvenc"...), without checking that it works."""
    return X264 if name == "x264" else HARDWARE[name]


@dataclass(frozen=True)
class EncoderCheck:
    """What the test encode found out about one encoder on this machine."""

    name: str
    ok: bool
    problem: str | None = None  # FFmpeg's first complaint: "Cannot load libcuda.so.1"


_TEST_SECONDS = 20
_PREFIX = re.compile(r"^(\[[^\]]*@ 0x[0-9a-f]+\]\s*)+")


def test_args(enc: Encoder) -> list[str]:
    """FFmpeg arguments of the test encode: ten 256x256 frames through the render's own settings."""
    opts = enc.output_options("veryfast", 23)
    vf = ",".join(("format=yuv420p", *enc.upload))
    out = [a for k, v in opts.items() for a in (f"-{k}", str(v))]
    return [
        *enc.global_args,
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=256x256:r=30",
        "-vf",
        vf,
        "-frames:v",
        "10",
        *out,
        "-f",
        "null",
        "-",
    ]


def _first_complaint(stderr: str, code: int) -> str:
    lines = [_PREFIX.sub("", line).strip() for line in stderr.splitlines() if line.strip()]
    return next(iter(lines), f"exit {code}")[:200]


def _probe(ffmpeg: str, enc: Encoder) -> EncoderCheck:
    if enc.name == "videotoolbox" and sys.platform != "darwin":
        return EncoderCheck(enc.name, False, "macOS only")
    if enc.name == "vaapi" and not os.path.exists(VAAPI_DEVICE):
        return EncoderCheck(enc.name, False, f"no {VAAPI_DEVICE}")
    try:
        proc = subprocess.run(
            [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", *test_args(enc)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=_TEST_SECONDS,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return EncoderCheck(enc.name, False, f"the test encode took over {_TEST_SECONDS} s")
    except OSError as e:
        return EncoderCheck(enc.name, False, f"FFmpeg cannot be run ({e.strerror or e})")
    if proc.returncode != 0:
        return EncoderCheck(enc.name, False, _first_complaint(proc.stderr, proc.returncode))
    return EncoderCheck(enc.name, True)


def _table_key() -> str:
    """Changes when the test or the settings change, so older answers are tested again."""
    table = [
        (n, e.codec, sorted((k, str(v)) for k, v in e.options.items()), e.pix_fmt, e.upload, e.global_args)
        for n, e in HARDWARE.items()
    ]
    return hashlib.sha256(json.dumps([table, test_args(X264)]).encode()).hexdigest()[:16]


def check_encoder(name: str, *, ffmpeg: str | None = None, settings: Settings | None = None) -> EncoderCheck:
    """Whether encoder `name` works with this machine's FFmpeg, from the cache when tested before.

    Answers are kept per FFmpeg binary (resolved path, mtime, size): a changed binary is tested again.
    """
    if name == "x264":
        return EncoderCheck("x264", True)
    if name not in HARDWARE:
        raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(CHOICES)}")
    if ffmpeg is None:
        from ..media.ffmpeg import ffmpeg_exe

        ffmpeg = ffmpeg_exe()
    exe = ffmpeg

    def probe() -> dict:
        found = _probe(exe, HARDWARE[name])
        return {"ok": found.ok, "problem": found.problem}

    file = (settings or Settings.from_env()).cache_dir / "encoders.json"
    hit = BinaryVerdicts(file, _table_key()).get(ffmpeg, name, probe)
    return EncoderCheck(name, bool(hit.get("ok")), hit.get("problem"))


def check_all(*, ffmpeg: str | None = None, settings: Settings | None = None) -> list[EncoderCheck]:
    """x264 and every hardware encoder, each with its verdict (what `fenta doctor` lists)."""
    return [EncoderCheck("x264", True)] + [
        check_encoder(n, ffmpeg=ffmpeg, settings=settings) for n in HARDWARE
    ]


def usable_encoders(*, ffmpeg: str | None = None, settings: Settings | None = None) -> list[str]:
    """Names of the encoders that work here, x264 first."""
    return [c.name for c in check_all(ffmpeg=ffmpeg, settings=settings) if c.ok]


def resolve_encoder(choice: str, *, ffmpeg: str | None = None, settings: Settings | None = None) -> Encoder:
    """The encoder a render with `--encoder choice` uses on this machine (x264 when the choice does not work).

    `auto` picks the first working hardware encoder, silently x264 when there is none; a named
    hardware encoder that does not work gives x264 with a notice naming what failed.
    """
    if choice in (None, "", "x264"):
        return X264
    if choice == "auto":
        for name in HARDWARE:
            if check_encoder(name, ffmpeg=ffmpeg, settings=settings).ok:
                return HARDWARE[name]
        return X264
    found = check_encoder(choice, ffmpeg=ffmpeg, settings=settings)
    if found.ok:
        return HARDWARE[choice]
    log.warning("notice: the %s encoder does not work here (%s); encoding with x264", choice, found.problem)
    return X264
