"""`reflect teams package`: the zip an administrator uploads, its manifest valid against
Microsoft's schema (teams/schema/), naming the app ID and listing the bot's commands."""

from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

import jsonschema
import pytest

from bot.teams.package import APP_DIR, manifest
from tests.conftest import run_reflect

APP_ID = "0a1b2c3d-0000-4000-8000-00000000abcd"
SCHEMA = json.loads((APP_DIR / "schema" / "MicrosoftTeams.schema.json").read_text())


def _environment(**more: str) -> dict[str, str]:
    names = ("PATH", "HOME", "LANG", "PYTHONPATH")
    return {**{k: os.environ[k] for k in names if k in os.environ}, **more}


def test_the_manifest_is_valid_against_microsofts_schema() -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(manifest(APP_ID))


def test_the_schema_refuses_a_manifest_without_a_bot_id() -> None:
    broken = manifest(APP_ID)
    del broken["bots"][0]["botId"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(broken)


def test_the_manifest_lists_every_command_and_names_the_app() -> None:
    filled = manifest(APP_ID)
    assert filled["id"] == APP_ID and filled["bots"][0]["botId"] == APP_ID
    [commands] = filled["bots"][0]["commandLists"]
    titles = [c["title"] for c in commands["commands"]]
    assert titles == ["reflect", "help", "list", "history", "close", "skip", "back", "pause"]
    assert "{{" not in json.dumps(filled)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_reflect_teams_package_writes_the_zip_an_administrator_uploads(tmp_path: Path) -> None:
    out = tmp_path / "reflect-teams.zip"
    env = _environment(
        TEAMS_APP_ID=APP_ID,
        TEAMS_APP_SECRET="not-shown",
        TEAMS_TENANT_ID="00000000-0000-4000-8000-00000000aaaa",
        DATABASE_URL=f"sqlite:///{tmp_path}/r.db",
    )
    ran = run_reflect(env, "teams", "package", "--output", str(out))
    assert ran.returncode == 0, ran.stderr
    assert str(out) in ran.stdout and "not-shown" not in ran.stdout + ran.stderr
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        jsonschema.Draft4Validator(SCHEMA).validate(json.loads(package.read("manifest.json")))
        assert _png_size(package.read("color.png")) == (192, 192)
        assert _png_size(package.read("outline.png")) == (32, 32)
    again = run_reflect(env, "teams", "package", "--output", str(out))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_without_an_app_id_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "x.zip"
    ran = run_reflect(_environment(), "teams", "package", "--output", str(out))
    assert ran.returncode == 2 and "TEAMS_APP_ID" in ran.stderr
    assert not out.exists()
