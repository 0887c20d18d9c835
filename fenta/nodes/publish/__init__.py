"""Publish nodes: post the rendered video to YouTube, TikTok and Instagram, never twice.

A platform is a provider module (its HTTP client, `fenta/providers`), a node class here (a
`PublishNode` with its params and `publish`) and a fake in `tests/fakes`. TikTok and Instagram take
one caption (`caption`: title, description and hashtags within the platform's limits).
"""

from .base import PublishNode, check_accounts, describe
from .instagram import PublishInstagram
from .tiktok import PublishTikTok
from .youtube import PublishYouTube

__all__ = ["PublishNode", "PublishInstagram", "PublishTikTok", "PublishYouTube", "check_accounts", "describe"]
