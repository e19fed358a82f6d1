"""The Slack workspace as bot/identity.py's Directory: users.lookupByEmail.

users.lookupByEmail is a Tier 3 method (about 50 calls a minute); this asks at most
``per_minute`` times in any minute and reports Slack's 429 as rate limited, so a run with many
new e-mail addresses leaves the rest for later runs rather than being refused.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web import WebClient

from bot.identity import DirectoryUnavailable
from bot.settings import Settings

log = logging.getLogger(__name__)

# Below Tier 3's limit, leaving room for an operator's own calls with the same token.
LOOKUPS_PER_MINUTE = 40
LOOKUP_TIMEOUT = 10
# Slack's answers meaning "no such person": not a failure, the address is simply not known.
UNKNOWN_ERRORS = frozenset({"users_not_found", "user_not_found"})


class SlackDirectory:
    def __init__(
        self,
        client: WebClient,
        *,
        per_minute: int = LOOKUPS_PER_MINUTE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.per_minute = per_minute
        self.monotonic = monotonic
        self._asked: deque[float] = deque()

    def person_for_email(self, email: str) -> str | None:
        self._take_a_lookup()
        try:
            user = self.client.users_lookupByEmail(email=email).get("user") or {}
        except SlackApiError as exc:
            error = exc.response.get("error") or f"http_{exc.response.status_code}"
            if error in UNKNOWN_ERRORS:
                return None
            raise DirectoryUnavailable(
                error, rate_limited=exc.response.status_code == 429 or error == "ratelimited"
            ) from exc
        except Exception as exc:  # the network: try again on a later run
            raise DirectoryUnavailable(type(exc).__name__) from exc
        if user.get("deleted"):
            log.info("an e-mail lookup found someone who has left the Slack workspace")
            return None
        found = user.get("id")
        return str(found) if found else None

    def _take_a_lookup(self) -> None:
        now = self.monotonic()
        while self._asked and now - self._asked[0] >= 60:
            self._asked.popleft()
        if len(self._asked) >= self.per_minute:
            raise DirectoryUnavailable("lookups used up for this minute", rate_limited=True)
        self._asked.append(now)


def directory_for(settings: Settings) -> SlackDirectory | None:
    """The Slack workspace the settings describe; None without a bot token (cases naming their
    practitioner by e-mail wait until one is configured)."""
    if not settings.slack_bot_token:
        return None
    base_url = (settings.slack_api_url or WebClient.BASE_URL).rstrip("/") + "/"
    client = WebClient(token=settings.slack_bot_token, base_url=base_url, timeout=LOOKUP_TIMEOUT)
    return SlackDirectory(client)
