"""Montage templates: moved to `fenta.template` (a low-level module the engine may import); this
module keeps the old import path working."""

from __future__ import annotations

from ..template import (
    DEFAULT_TEMPLATE,
    TRANSITIONS,
    Template,
    TemplateError,
    list_templates,
    resolve_template,
    template_dirs,
)

__all__ = [
    "Template",
    "TemplateError",
    "resolve_template",
    "template_dirs",
    "list_templates",
    "DEFAULT_TEMPLATE",
    "TRANSITIONS",
]
