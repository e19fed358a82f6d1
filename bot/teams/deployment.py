"""Microsoft Teams in a deployment (bot/serving/): the front end that sends, the endpoint that
receives at /api/messages, and its warm-up.

The front end reads where to write to each person from the database. The server builds front
ends before it hands the platforms its database (``endpoint``), and the clock never hands it
one, so the front end asks for a session through this platform: the server's database once it
has been given, otherwise one opened from the settings on first use.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from bot.settings import Settings
from bot.teams.app import PATH, teams_app_for
from bot.teams.frontend import TeamsFrontEnd, front_end_for
from bot.teams.text import teams_renderer

if TYPE_CHECKING:
    from bot.bootstrap import Database
    from bot.requests import Requests

log = logging.getLogger(__name__)


class TeamsPlatform:
    name = "teams"

    def __init__(self, settings: Settings, database: Database | None = None) -> None:
        self.settings = settings
        self.database = database
        self._lock = threading.Lock()

    def front_end(self) -> TeamsFrontEnd:
        made = front_end_for(self.settings, self._session)
        if made is None:
            raise ValueError("Teams is not configured: TEAMS_APP_ID is not set")
        return made

    def endpoint(self, database: Database, requests: Requests) -> tuple[str, Any]:
        self.database = database
        app = teams_app_for(self.settings, requests, database.new_session)
        if app is None:
            raise ValueError("Teams is not configured: TEAMS_APP_ID is not set")
        return PATH, app

    def warm_up(self) -> None:
        teams_renderer().compile_all(("teams/", "messages/", "notices/", "clock/"))

    def _session(self) -> Session:
        with self._lock:
            if self.database is None:
                from bot.bootstrap import database_for

                self.database = database_for(self.settings)
            database = self.database
        return database.new_session()
