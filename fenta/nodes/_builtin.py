"""Imports every built-in node module so their classes register themselves."""

from . import (  # noqa: F401  # noqa: F401,E402  (AI.ImageEdit, Music.Gen, Script.Prompts)  # noqa: F401,E402  (Script.Gen, Script.Transform, Input.Stock)
    ai_edit,
    ai_media,  # noqa: F401,E402  (AI.Image, AI.Video)
    asset,
    background,
    music,  # noqa: F401,E402  (Music)
    music_gen,
    prompts,
    publish,  # noqa: F401,E402  (Publish.YouTube, Publish.TikTok, Publish.Instagram)
    render,
    script,
    stock,
    subtitle,
    text,
    timeline,
    voice,
)
