"""Publish nodes: post the rendered video to YouTube (TikTok and Instagram to come), never twice.

A platform is a provider module (its HTTP client, `fenta/providers`), a node class here (a
`PublishNode` with its params and `publish`) and a fake in `tests/fakes`.
"""

from .base import PublishNode, check_accounts, describe
from .youtube import PublishYouTube

__all__ = ["PublishNode", "PublishYouTube", "check_accounts", "describe"]
