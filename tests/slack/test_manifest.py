"""The Slack app manifest: what the app handles, least-privilege scopes, each with its reason."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yaml"


def test_manifest_declares_what_the_app_handles() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/reflect"]
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {"message.im", "app_home_opened"}
    assert settings["interactivity"]["is_enabled"] is True
    urls = [
        commands[0]["url"],
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
    ]
    assert urls == ["https://YOUR-HOST/slack/events"] * 3
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] and home["messages_tab_enabled"]
    assert home["messages_tab_read_only_enabled"] is False


def test_scopes_are_least_privilege_and_each_says_why() -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    scopes = yaml.safe_load(text)["oauth_config"]["scopes"]["bot"]
    assert scopes == ["commands", "chat:write", "im:history", "im:write"]
    for scope in scopes:
        line = next(line for line in text.splitlines() if re.match(rf"\s*- {scope} ", line))
        assert re.search(r"# \w+", line), f"{scope} has no reason given"


def test_adding_e_mail_lookup_says_it_needs_users_read_too() -> None:
    """Slack grants users:read.email only together with users:read: the note on adding it for
    e-mail imports must name both."""
    comment = " ".join(
        line.strip().lstrip("#").strip()
        for line in MANIFEST.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("#")
    )
    assert "users:read.email AND users:read" in comment
