"""Imports every built-in node module so their classes register themselves."""

from . import asset, background, render, subtitle, text, timeline, voice  # noqa: F401
