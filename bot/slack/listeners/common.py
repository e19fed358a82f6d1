"""Shared by the listeners: Slack's text as the person typed it."""

from __future__ import annotations


def unescape(text: str) -> str:
    """Slack sends &, < and > escaped in message text; keep what the person typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
