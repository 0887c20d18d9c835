"""Caption and title fonts: finding a family's file and measuring text as libass draws it.

A family's file is looked up in the bundled fonts first, then in the system's.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from ..errors import FontError

__all__ = ["FONTS_DIR", "DEFAULT_FONT", "list_fonts", "resolve_font", "FontMeasure"]

FONTS_DIR = Path(__file__).resolve().parent.parent / "assets" / "fonts"
#: Always available, with Cyrillic and Greek coverage.
DEFAULT_FONT = "DejaVu Sans"
_SYSTEM_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.fonts",
    "~/.local/share/fonts",
    "/Library/Fonts",
    "C:/Windows/Fonts",
)


@functools.lru_cache(maxsize=1)
def list_fonts() -> dict[tuple[str, str], Path]:
    """(family casefolded, style casefolded) -> file, for bundled fonts first, then system fonts."""
    from PIL import ImageFont

    found: dict[tuple[str, str], Path] = {}
    dirs = [FONTS_DIR] + [Path(os.path.expanduser(d)) for d in _SYSTEM_FONT_DIRS]
    for d in dirs:
        if not d.is_dir():
            continue
        for p in sorted(d.rglob("*")):
            if p.suffix.lower() not in (".ttf", ".otf", ".ttc"):
                continue
            try:
                family, style = ImageFont.truetype(str(p), 12).getname()
            except OSError:
                continue
            found.setdefault(((family or "").casefold(), (style or "").casefold()), p)
    return found


def resolve_font(name: str, bold: bool = False) -> Path:
    """The font file libass will use for family `name` (bold face when asked and available).

    Raises:
        FontError: no such family among the bundled fonts (fenta/assets/fonts) or the system's.
    """
    fonts = list_fonts()
    family = name.casefold().strip()
    styles = {style: path for (fam, style), path in fonts.items() if fam == family}
    if not styles:
        known = sorted({fam for fam, _ in fonts})
        bundled = sorted({fam for (fam, _), p in fonts.items() if p.parent == FONTS_DIR})
        raise FontError(
            f"caption font '{name}' is not installed (bundled: {', '.join(bundled) or 'none'}; "
            f"{len(known)} families found in all); install it or use '{DEFAULT_FONT}'",
            field="subtitles.font",
        )
    prefs = ["bold", "bold regular", "semibold"] if bold else ["regular", "book", "normal", "medium", "roman"]
    for p in prefs:
        if p in styles:
            return styles[p]
    return next(iter(styles.values()))


class FontMeasure:
    """Widths of text as libass draws it at an ASS font size."""

    def __init__(self, path: Path, size: float) -> None:
        from PIL import ImageFont

        probe = ImageFont.truetype(str(path), 1000)
        ascent, descent = probe.getmetrics()
        # libass scales a font so that ascent + descent (not the em) equals the ASS size.
        self.em_per_size = 1000.0 / max(1, ascent + descent)
        self.path = path
        self.size = size
        self._font = ImageFont.truetype(str(path), max(1, round(size * self.em_per_size)))
        self._scale = size * self.em_per_size / max(1, round(size * self.em_per_size))

    def width(self, text: str) -> float:
        return self._font.getlength(text) * self._scale

    def resized(self, size: float) -> FontMeasure:
        return FontMeasure(self.path, size)
