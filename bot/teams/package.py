"""`reflect teams package`: the zip an administrator uploads to Teams (the app manifest, with
the app ID and the bot's commands filled in, and its two icons)."""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import yaml

from bot.render import PLAIN, PROMPTS_DIR, renderer
from bot.settings import Settings

APP_DIR = Path(__file__).resolve().parents[2] / "teams"
MANIFEST = APP_DIR / "manifest.json"
ICONS = ("color.png", "outline.png")
COMMANDS = PROMPTS_DIR / "teams" / "commands.yaml"
DEFAULT_OUTPUT = Path("reflect-teams.zip")


def manifest(app_id: str) -> dict[str, Any]:
    """teams/manifest.json for ``app_id``, listing prompts/teams/commands.yaml's commands."""
    text = MANIFEST.read_text(encoding="utf-8").replace("{{app_id}}", app_id)
    filled: dict[str, Any] = json.loads(text)
    commands = yaml.safe_load(COMMANDS.read_text(encoding="utf-8"))
    listed = [{"title": str(c["title"]), "description": str(c["description"])} for c in commands]
    for bot in filled["bots"]:
        bot["commandLists"] = [{"scopes": ["personal"], "commands": listed}]
    return filled


def write_package(path: Path, app_id: str) -> None:
    """The zip: manifest.json and the icons at its top level, as Teams reads it."""
    with zipfile.ZipFile(path, "x", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest(app_id), indent=2))
        for icon in ICONS:
            package.write(APP_DIR / icon, icon)


def add_teams_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    teams = commands.add_parser("teams", help="Microsoft Teams")
    actions = teams.add_subparsers(dest="teams_command", metavar="ACTION", required=True)
    package = actions.add_parser(
        "package",
        help="write the app package an administrator uploads to Teams",
        description="Write the Teams app package (manifest.json with TEAMS_APP_ID and the "
        "bot's commands, and its icons) as a zip to upload in the Teams admin center.",
    )
    package.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="FILE",
        help=f"default {DEFAULT_OUTPUT}",
    )
    package.set_defaults(handler=cmd_package)


def cmd_package(args: argparse.Namespace, settings: Settings) -> int:
    """Exits 2 without TEAMS_APP_ID, 1 if the file exists."""
    out: Path = args.output
    if settings.teams_app_id is None:
        _say("package_refused", reason="no_app_id")
        return 2
    try:
        write_package(out, settings.teams_app_id)
    except FileExistsError:
        _say("package_refused", reason="exists", path=out)
        return 1
    print(renderer(PLAIN).render("teams/packaged.j2", path=out, app_id=settings.teams_app_id))
    return 0


def _say(template: str, **data: object) -> None:
    print(renderer(PLAIN).render(f"teams/{template}.j2", **data), file=sys.stderr)
