"""Imports every built-in node module so their classes register themselves."""

from . import asset, background, render, subtitle, text, timeline, voice  # noqa: F401
from . import music  # noqa: F401,E402  (Music)
from . import ai_media  # noqa: F401,E402  (AI.Image, AI.Video)
from . import ai_edit, music_gen, prompts  # noqa: F401,E402  (AI.ImageEdit, Music.Gen, Script.Prompts)
from . import script, stock  # noqa: F401,E402  (Script.Gen, Script.Transform, Input.Stock)
from . import publish  # noqa: F401,E402  (Publish.YouTube)
