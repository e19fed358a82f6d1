"""A fake Microsoft Teams (Bot Connector service, Bot Framework token issuer and OpenID metadata)
served over real HTTP on 127.0.0.1: the one stand-in for Teams that the tests, the benchmarks and
a person trying Reflect by hand all use, as tools/fake_slack.py is for Slack.

Towards Reflect it plays Teams: ``post_activity`` signs an activity as the Bot Framework does
(RS256, with the test key beside this file, named in its own OpenID metadata document and key
set) and posts it to the bot's ``/api/messages``. Towards Reflect's sending it plays the Bot
Connector: it issues the bot's tokens (``POST /oauth2/v2.0/token``), creates personal chats
(``POST /v3/conversations``), takes posts (``POST /v3/conversations/{id}/activities``) and card
updates (``PUT .../activities/{id}``), refusing any call without a token it issued, and a post
over Teams' size limit (413). It records every call, and can be told to answer the next few calls
with a status (a 429 with Retry-After, a 5xx), to cut the connection before or after keeping a
post, or to take a while over each call.

By hand (it prints the TEAMS_* settings that point Reflect at it; with ``--bot`` it lets you
chat with Reflect as a Teams person, printing what Reflect posts)::

    python -m tools.fake_teams --port 8091
    python -m tools.fake_teams --port 8091 --bot http://127.0.0.1:3000/api/messages
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

# TEST ONLY: this key is public; see the warning at the top of the file.
TEST_KEY_FILE = Path(__file__).with_name("fake_teams_test_key.pem")
KEY_ID = "fake-teams-test-key"
ISSUER = "https://api.botframework.com"
TENANT = "00000000-0000-4000-8000-00000000aaaa"
APP_ID = "00000000-0000-4000-8000-0000000000b0"
APP_SECRET = "fake-teams-secret"
CHANNEL = "msteams"
# Teams refuses an activity larger than about 28 KB.
ACTIVITY_LIMIT = 28 * 1024
TOKEN_LIFETIME = 3600
# When piped input ends, how long the chat waits for Reflect's last replies.
REPLIES_AFTER_INPUT_ENDS = 3.0


def test_key() -> RSAPrivateKey:
    key = load_pem_private_key(TEST_KEY_FILE.read_bytes(), password=None)
    assert isinstance(key, RSAPrivateKey)
    return key


@dataclass
class Call:
    method: str
    path: str
    body: Any
    status: int
    at: float = field(default_factory=time.monotonic)
    # The connection was cut without an answer: "before" keeping the post, or "after".
    cut: str | None = None


@dataclass
class Failure:
    status: int
    retry_after: int | None = None
    # "before": the connection is cut without keeping the post; "after": kept, then cut.
    cut: str | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeTeams:
    def __init__(
        self, port: int = 0, *, app_id: str = APP_ID, secret: str = APP_SECRET, tenant: str = TENANT
    ) -> None:
        self.app_id = app_id
        self.secret = secret
        self.tenant = tenant
        self.key = test_key()
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self.delay = 0.0
        # Cut each post's connection at random (``cut_randomly``).
        self.cut_probability = 0.0
        self.cut_after_keeping_share = 0.5
        self.random = random.Random(0)
        self.tokens: set[str] = set()
        self.lock = threading.Lock()
        self._ids = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ----------------------------------------------------------- running

    def start(self) -> FakeTeams:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def openid_url(self) -> str:
        return f"{self.url}/v1/.well-known/openidconfiguration"

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth2/v2.0/token"

    @property
    def service_url(self) -> str:
        return f"{self.url}/"

    def environment(self) -> dict[str, str]:
        """The settings that point Reflect at this fake."""
        return {
            "TEAMS_APP_ID": self.app_id,
            "TEAMS_APP_SECRET": self.secret,
            "TEAMS_TENANT_ID": self.tenant,
            "TEAMS_OPENID_URL": self.openid_url,
            "TEAMS_TOKEN_URL": self.token_url,
            "TEAMS_CONNECTOR_URL": self.service_url,
        }

    # ----------------------------------------------------------- what tests tell it

    def fail_next(
        self, count: int = 1, status: int = 500, *, retry_after: int | None = None
    ) -> None:
        with self.lock:
            self.failures += [Failure(status, retry_after) for _ in range(count)]

    def cut_next(self, count: int = 1, *, after_keeping: bool = True) -> None:
        """Cut the connection of the next ``count`` posts without an answer, having kept the
        post first (``after_keeping``) or not."""
        with self.lock:
            cut = "after" if after_keeping else "before"
            self.failures += [Failure(0, cut=cut) for _ in range(count)]

    def cut_randomly(
        self, probability: float, *, after_keeping_share: float = 0.5, seed: int = 0
    ) -> None:
        """Cut each post's connection with ``probability``; of those, keep the post first with
        ``after_keeping_share`` (the benchmark of duplicates)."""
        with self.lock:
            self.cut_probability = probability
            self.cut_after_keeping_share = after_keeping_share
            self.random = random.Random(seed)

    def slow_down(self, seconds: float) -> None:
        """Take ``seconds`` over each connector call (a far-away or struggling Teams)."""
        with self.lock:
            self.delay = seconds

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.failures.clear()
            self.delay = 0.0
            self.cut_probability = 0.0

    # ----------------------------------------------------------- what tests read

    def posted(self) -> list[dict[str, Any]]:
        """Every activity kept, in order, with ``conversation`` set to where it went."""
        with self.lock:
            return [
                {**c.body, "conversation": {"id": c.path.split("/")[3]}}
                for c in self.calls
                if c.method == "POST" and c.path.endswith("/activities") and c.status == 200
            ]

    def posted_to(self, conversation_id: str) -> list[dict[str, Any]]:
        return [p for p in self.posted() if p["conversation"]["id"] == conversation_id]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    # ----------------------------------------------------------- playing Teams towards the bot

    def token_for_bot(self, *, service_url: str | None = None, **changes: Any) -> str:
        """A Bot Framework token for an activity to the bot; ``changes`` alter or add claims
        (``exp``, ``aud``, ``iss``...)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": self.app_id,
            "serviceurl": service_url or self.service_url,
            "nbf": now - 5,
            "iat": now - 5,
            "exp": now + TOKEN_LIFETIME,
            **changes,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KEY_ID})

    def post_activity(
        self, bot_url: str, activity: dict[str, Any], *, token: str | None = None
    ) -> httpx.Response:
        """Post ``activity`` to the bot, signed as Teams would (or with ``token``)."""
        bearer = token if token is not None else self.token_for_bot()
        return httpx.post(
            bot_url, json=activity, headers={"Authorization": f"Bearer {bearer}"}, timeout=30
        )

    def activity(
        self,
        kind: str,
        person: str,
        *,
        tenant: str | None = None,
        conversation_type: str = "personal",
        **fields: Any,
    ) -> dict[str, Any]:
        """An activity from ``person`` (their Entra object ID) in their personal chat."""
        with self.lock:
            self._ids += 1
            number = self._ids
        tenant = tenant or self.tenant
        conversation_id = personal_chat(person) if conversation_type == "personal" else "19:x"
        return {
            "type": kind,
            "id": f"activity-{number}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "channelId": CHANNEL,
            "serviceUrl": self.service_url,
            "from": {"id": user_id(person), "aadObjectId": person, "name": "Test person"},
            "recipient": {"id": f"28:{self.app_id}", "name": "Reflect"},
            "conversation": {
                "id": conversation_id,
                "conversationType": conversation_type,
                "tenantId": tenant,
            },
            "channelData": {"tenant": {"id": tenant}},
            **fields,
        }

    def message(self, person: str, text: str, **fields: Any) -> dict[str, Any]:
        return self.activity("message", person, text=text, **fields)

    def submit(self, person: str, value: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """A card's Action.Submit, as Teams sends it: a message with the action's data."""
        return self.activity("message", person, value=value, **fields)

    def task(self, person: str, name: str, data: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """A dialog's invoke, as Teams sends it: ``task/fetch`` when a button whose data asks
        for one is pressed (``data`` is that button's), ``task/submit`` when the dialog's own
        button is (``data`` is its data with what was typed). Teams waits for the answer in the
        reply."""
        value = {"data": data, "context": {"theme": "default"}}
        return self.activity("invoke", person, name=name, value=value, **fields)

    def install(self, person: str) -> dict[str, Any]:
        return self.activity("installationUpdate", person, action="add")

    # ----------------------------------------------------------- playing the connector

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        path = request.path.split("?")[0]
        if method == "GET":
            self._get(request, path)
            return
        if path == "/oauth2/v2.0/token":
            form = dict(parse_qsl(raw.decode()))
            self._answer(request, *self._issue(form))
            return
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            self._record(method, path, None, 401)
            self._answer(request, 401, {"error": {"code": "Unauthorized"}})
            return
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            failure = self.failures.pop(0) if self.failures else None
            if failure is None and method == "POST" and self.random.random() < self.cut_probability:
                kept = self.random.random() < self.cut_after_keeping_share
                failure = Failure(0, cut="after" if kept else "before")
        body = json.loads(raw or b"{}")
        if failure is not None and failure.cut is None:
            self._record(method, path, body, failure.status)
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
            self._answer(request, failure.status, {"error": {"code": "Failed"}}, headers)
            return
        if failure is not None and failure.cut == "before":
            self._record(method, path, body, 0, cut="before")
            request.close_connection = True
            request.connection.close()
            return
        status, answer = self._connector(method, path, body, len(raw))
        self._record(method, path, body, status, cut=failure.cut if failure else None)
        if failure is not None:  # kept, then cut before answering
            request.close_connection = True
            request.connection.close()
            return
        self._answer(request, status, answer)

    def _get(self, request: BaseHTTPRequestHandler, path: str) -> None:
        if path == "/v1/.well-known/openidconfiguration":
            self._answer(
                request,
                200,
                {
                    "issuer": ISSUER,
                    "jwks_uri": f"{self.url}/v1/.well-known/keys",
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                },
            )
        elif path == "/v1/.well-known/keys":
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
            jwk = {**public, "kid": KEY_ID, "use": "sig", "endorsements": [CHANNEL]}
            self._answer(request, 200, {"keys": [jwk]})
        else:
            self._answer(request, 404, {"error": "not found"})

    def _issue(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.app_id or form.get("client_secret") != self.secret:
            self._record("POST", "/oauth2/v2.0/token", {"client_id": form.get("client_id")}, 401)
            return 401, {"error": "invalid_client"}
        token = f"fake-bot-token-{uuid.uuid4().hex}"
        with self.lock:
            self.tokens.add(token)
        self._record("POST", "/oauth2/v2.0/token", {"client_id": form.get("client_id")}, 200)
        return 200, {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "access_token": token}

    def _connector(
        self, method: str, path: str, body: dict[str, Any], size: int
    ) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v3", "conversations"]:
            members = body.get("members") or []
            if body.get("isGroup") or len(members) != 1:
                return 400, {"error": {"code": "BadArgument"}}
            person = str(members[0].get("aadObjectId") or members[0]["id"].removeprefix("29:"))
            return 200, {"id": personal_chat(person)}
        if len(parts) == 4 and parts[:2] == ["v3", "conversations"] and parts[3] == "activities":
            if method != "POST":
                return 405, {}
            if size > ACTIVITY_LIMIT:
                return 413, {"error": {"code": "MessageSizeTooBig"}}
            with self.lock:
                self._ids += 1
                return 200, {"id": f"posted-{self._ids}"}
        if len(parts) == 5 and parts[3] == "activities" and method == "PUT":
            return 200, {"id": parts[4]}
        return 404, {"error": {"code": "NotFound"}}

    def _record(
        self, method: str, path: str, body: Any, status: int, cut: str | None = None
    ) -> None:
        with self.lock:
            self.calls.append(Call(method, path, body, status, cut=cut))

    def _answer(
        self,
        request: BaseHTTPRequestHandler,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)


def user_id(person: str) -> str:
    """The id Teams gives a person in a bot's conversations (29:...), made from their Entra
    object ID so tests can tell whose it is."""
    return f"29:{person}"


def personal_chat(person: str) -> str:
    return f"a:personal-{person}"


@contextmanager
def fake_teams(**options: Any) -> Iterator[FakeTeams]:
    fake = FakeTeams(**options).start()
    try:
        yield fake
    finally:
        fake.stop()


def card_texts(activity: Any) -> list[str]:
    """The text blocks of the cards in ``activity``, in order."""
    found: list[str] = []
    if isinstance(activity, dict):
        if activity.get("type") == "TextBlock":
            found.append(str(activity.get("text", "")))
        for value in activity.values():
            found += card_texts(value)
    elif isinstance(activity, list):
        for value in activity:
            found += card_texts(value)
    return found


def chat(fake: FakeTeams, bot_url: str, person: str) -> None:
    """Be ``person`` in their personal chat with the bot: add the app, then send each line
    typed, printing what the bot posts to the chat as it arrives."""
    shown = 0

    def show_new() -> None:
        nonlocal shown
        posted = fake.posted_to(personal_chat(person))
        for activity in posted[shown:]:
            print("\n".join(card_texts(activity)), end="\n\n", flush=True)
        shown = len(posted)

    def watch() -> None:
        while True:
            show_new()
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()
    print(f"Adding the app for {person}; type messages, Ctrl+D to stop.", flush=True)
    print(f"bot answered {fake.post_activity(bot_url, fake.install(person)).status_code}")
    while True:
        try:
            line = input()
        except EOFError:
            time.sleep(REPLIES_AFTER_INPUT_ENDS)  # what was typed last is still being answered
            show_new()
            return
        if line.strip():
            status = fake.post_activity(bot_url, fake.message(person, line.strip())).status_code
            if status != 200:
                print(f"(the bot answered {status})", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake Microsoft Teams for trying Reflect.")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument(
        "--bot",
        metavar="URL",
        help="chat with Reflect at URL (e.g. http://127.0.0.1:3000/api/messages)",
    )
    parser.add_argument(
        "--person",
        default="aaaaaaaa-0000-4000-8000-000000000001",
        help="the Entra object ID to chat as (list it with teams_id in the organisation file)",
    )
    args = parser.parse_args(argv)
    fake = FakeTeams(args.port)
    print("Fake Teams; point Reflect at it with:")
    for name, value in fake.environment().items():
        print(f"  export {name}={value}")
    if args.bot is None:
        fake.server.serve_forever()
        return
    fake.start()
    try:
        chat(fake, args.bot, args.person)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
