"""The Teams front end of the outbox: renders stored messages as Adaptive Cards when they are
sent, posts them to the person's personal chat through the Bot Connector, and says what its
answers mean.

Reflect can write only to someone who has added the app (installing it opens the personal chat,
whose address storage/teams.py keeps). A message for someone who has not waits, retried every
INSTALL_RETRY; the delivery loop sets it aside after its last try (about a day), logging why.

Teams gives no way to look up a post whose send had an unknown outcome, so ``find`` cannot
look: the first time it is asked about a post, it says "not there" (the post is sent again);
asked again about the same post, it takes the post as delivered and logs that it did. A post
is so sent at most twice (docs/teams.md; benchmarks/teams_uncertain_send.py measures it). The
record of having resent is a handled key, shared by every process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bot.messaging.frontend import Outcome, Stamp
from bot.messaging.message import CONVERSATION, HOME, Message
from bot.render import Renderer
from bot.settings import Settings
from bot.teams.auth import AppTokens, token_url_for
from bot.teams.cards import attachment, card, part_elements, text_blocks
from bot.teams.text import teams_renderer
from storage import handled
from storage import teams as references
from storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)

SEND_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0
DEADLINE_MARGIN = timedelta(seconds=2)
# Teams refuses an activity over about 28 KB; a post is kept under this, leaving room for the
# envelope Reflect adds (addresses) and Teams' own.
POST_LIMIT = 24_000
# The longest text one TextBlock holds before it is cut into several.
TEXT_LIMIT = 6_000
# How often a message for someone who has not added the app is tried again; the delivery loop
# gives up after its last try (MAX_ATTEMPTS of these: about a day).
INSTALL_RETRY = timedelta(minutes=36)
NOT_INSTALLED = "not_installed (the person has not added Reflect in Teams)"
DEFAULT_RETRY_AFTER = 30
# Controls and inputs belong to the text before them: a split never leaves them alone.
TRAILING = frozenset({"ActionSet", "Input.ChoiceSet", "Input.Date", "Input.Text"})
# The Bot Connector's error codes for a person Reflect can no longer write to.
RECIPIENT_ERRORS = frozenset(
    {"ConversationBlockedByUser", "ConversationNotFound", "BotNotInConversationRoster"}
)


@dataclass(frozen=True)
class TeamsPost:
    """One activity for a person's personal chat."""

    recipient: str
    activity: dict[str, Any]


def front_end_for(settings: Settings, new_session: SessionFactory) -> TeamsFrontEnd | None:
    """The Teams front end the settings describe; None when Teams is not configured."""
    if settings.teams_app_id is None:
        return None
    assert settings.teams_app_secret is not None and settings.teams_tenant_id is not None
    client = httpx.Client(timeout=httpx.Timeout(SEND_TIMEOUT, connect=CONNECT_TIMEOUT))
    tokens = AppTokens(
        app_id=settings.teams_app_id,
        secret=settings.teams_app_secret,
        token_url=settings.teams_token_url or token_url_for(settings.teams_tenant_id),
        client=client,
    )
    return TeamsFrontEnd(
        new_session, client=client, tokens=tokens, connector_url=settings.teams_connector_url
    )


class TeamsFrontEnd:
    """bot/messaging/frontend.py's FrontEnd for Microsoft Teams."""

    def __init__(
        self,
        new_session: SessionFactory,
        *,
        client: httpx.Client,
        tokens: AppTokens,
        connector_url: str | None = None,
        text: Renderer | None = None,
    ) -> None:
        self.new_session = new_session
        self.client = client
        self.tokens = tokens
        self.connector_url = connector_url
        self.text = text or teams_renderer()

    # ----------------------------------------------------------- rendering

    def render(self, surface: str, recipient: str, message: Message) -> Sequence[TeamsPost]:
        if message.legacy is not None:
            raise ValueError(f"a recorded call for another platform ({surface})")
        if surface == HOME:
            return []  # Teams has no home page Reflect publishes: `list` shows open cases
        if surface != CONVERSATION:
            raise ValueError(f"no such surface: {surface}")
        elements = [e for part in message.parts for e in part_elements(part, self.text)]
        elements = [piece for element in elements for piece in _cut(element)]
        if message.single:
            return [TeamsPost(recipient, _activity(_shortened(elements)))]
        return [TeamsPost(recipient, _activity(body)) for body in split(elements)]

    # ----------------------------------------------------------- sending

    def send(self, post: TeamsPost, *, stamp: Stamp) -> Outcome:
        try:
            with self.new_session() as session:
                reference = references.reference_for(session=session, person_id=post.recipient)
        except Exception as exc:
            return Outcome(ok=False, error=f"database: {type(exc).__name__}")
        if reference is None:
            return Outcome(ok=False, error=NOT_INSTALLED, busy=True, retry_after=INSTALL_RETRY)
        base = (self.connector_url or reference.service_url).rstrip("/")
        url = f"{base}/v3/conversations/{reference.conversation_id}/activities"
        activity = {
            **post.activity,
            "from": {"id": reference.bot_id},
            "recipient": {"id": reference.user_id},
            "conversation": {"id": reference.conversation_id},
        }
        try:
            token = self.tokens.token()
        except httpx.HTTPStatusError as exc:
            error = f"token endpoint answered {exc.response.status_code}"
            return Outcome(ok=False, error=error, app_fault=exc.response.status_code < 500)
        except httpx.HTTPError as exc:
            return Outcome(ok=False, error=f"token endpoint: {type(exc).__name__}")
        try:
            response = self.client.post(
                url, json=activity, headers={"Authorization": f"Bearer {token}"}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Outcome(ok=False, error=type(exc).__name__)  # never reached Teams
        except httpx.HTTPError as exc:
            # Written, then no answer (a timeout, a dropped connection): it may have arrived.
            return Outcome(ok=False, error=type(exc).__name__, uncertain=True)
        return self._outcome(response)

    def _outcome(self, response: httpx.Response) -> Outcome:
        status = response.status_code
        if status in (200, 201, 202):
            return Outcome(ok=True, ref=_body(response).get("id"))
        code = str((_body(response).get("error") or {}).get("code") or f"http_{status}")
        if status == 429:
            seconds = _seconds(response.headers.get("Retry-After"))
            return Outcome(
                ok=False, error="throttled", busy=True, retry_after=timedelta(seconds=seconds)
            )
        if status in (401, 403) and code not in RECIPIENT_ERRORS:
            self.tokens.forget()
            return Outcome(ok=False, error=code, app_fault=True)
        if code in RECIPIENT_ERRORS or status == 404:
            return Outcome(ok=False, error=code, permanent=True, recipient_gone=True)
        if status >= 500:  # the service failed somewhere, perhaps after posting
            return Outcome(ok=False, error=code, uncertain=True)
        return Outcome(ok=False, error=code, permanent=True)

    def longest_send(self) -> timedelta:
        """A token fetched, then the post: each at most its timeout, and a margin."""
        return timedelta(seconds=2 * SEND_TIMEOUT + 5)

    def send_deadline(self) -> timedelta:
        return timedelta(seconds=SEND_TIMEOUT) + DEADLINE_MARGIN

    # ----------------------------------------------------------- looking

    def find(self, post: TeamsPost, *, stamp: Stamp, since: datetime) -> Outcome | None:
        """Teams cannot be asked whether a post arrived. The first time: not there (it is sent
        again). After that: taken as arrived, so one post goes at most twice."""
        key = f"teams-resent:{stamp.outbox_id}:{stamp.part}"
        try:
            with transaction(self.new_session) as session:
                first = handled.record(session=session, key=key, now=datetime.now(UTC))
        except Exception as exc:
            return Outcome(ok=False, error=f"database: {type(exc).__name__}")
        if first:
            return None
        log.warning(
            "outbox message %s part %s: sent twice with no answer from Teams; taken as "
            "delivered, as Teams cannot be asked whether it arrived",
            stamp.outbox_id,
            stamp.part,
        )
        return Outcome(ok=True)


# --------------------------------------------------------------- posts within Teams' limit


def split(elements: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Card bodies each under POST_LIMIT, in order; a control stays with the text before it."""
    groups: list[list[dict[str, Any]]] = []
    for element in elements:
        if groups and element.get("type") in TRAILING:
            groups[-1].append(element)
        else:
            groups.append([element])
    bodies: list[list[dict[str, Any]]] = []
    for group in groups:
        if bodies and _size(bodies[-1] + group) <= POST_LIMIT:
            bodies[-1].extend(group)
        else:
            bodies.append(list(group))
    for body in bodies:  # a new post never opens with a separator or extra space
        body[0] = {k: v for k, v in body[0].items() if k not in ("separator", "spacing")}
    return bodies or [[]]


def _cut(element: dict[str, Any]) -> list[dict[str, Any]]:
    """A TextBlock too long for one post, as several, cut between words."""
    text = element.get("text")
    if element.get("type") != "TextBlock" or not isinstance(text, str) or len(text) <= TEXT_LIMIT:
        return [element]
    pieces: list[dict[str, Any]] = []
    while text:
        cut = len(text) if len(text) <= TEXT_LIMIT else text.rfind(" ", 0, TEXT_LIMIT)
        if cut <= 0:
            cut = TEXT_LIMIT
        first = (
            {**element, "text": text[:cut].rstrip()}
            if not pieces
            else {**element, "text": text[:cut].strip(), "spacing": "None"}
        )
        pieces.append(first)
        text = text[cut:].lstrip()
    return pieces


def _shortened(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One post's body: the text shortened if it is ever too long (a nudge from the clock)."""
    if _size(elements) <= POST_LIMIT:
        return elements
    controls = [e for e in elements if e.get("type") in TRAILING]
    text = "\n".join(e["text"] for e in elements if e.get("type") == "TextBlock")
    keep = POST_LIMIT - _size(controls)
    while True:  # each line is a block of its own, so cut until the blocks fit
        keep = max(keep, 0)
        body = text_blocks(text[:keep].rstrip() + "…") + controls
        over = _size(body) - POST_LIMIT
        if over <= 0 or keep == 0:
            return body
        keep -= over + 100


def _activity(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "message", "attachments": [attachment(card(body))]}


def _size(elements: list[dict[str, Any]]) -> int:
    return len(json.dumps(_activity(elements)).encode())


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _seconds(value: str | None) -> int:
    try:
        return max(int(value or DEFAULT_RETRY_AFTER), 1)
    except ValueError:
        return DEFAULT_RETRY_AFTER
