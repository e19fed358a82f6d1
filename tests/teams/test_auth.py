"""Token validation against the fake Teams' own OpenID metadata and signing key: what Teams signs
passes, anything else is refused with a reason for the operator's log."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.teams.auth import ActivityTokens, Refused
from tools.fake_teams import ISSUER, KEY_ID, FakeTeams


def _tokens(teams: FakeTeams) -> ActivityTokens:
    return ActivityTokens(app_id=teams.app_id, openid_url=teams.openid_url)


def _check(teams: FakeTeams, token: str, service_url: str | None = None) -> None:
    _tokens(teams).check(
        f"Bearer {token}", service_url=service_url or teams.service_url, channel_id="msteams"
    )


def test_a_token_teams_signed_for_this_app_passes(teams: FakeTeams) -> None:
    caller = _tokens(teams).check(
        f"Bearer {teams.token_for_bot()}", service_url=teams.service_url, channel_id="msteams"
    )
    assert caller.app_id == teams.app_id


def test_a_token_signed_with_another_key_is_refused(teams: FakeTeams) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(teams.token_for_bot(), options={"verify_signature": False})
    forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": KEY_ID})
    with pytest.raises(Refused, match="invalid token"):
        _check(teams, forged)


def test_an_unsigned_token_is_refused(teams: FakeTeams) -> None:
    claims = jwt.decode(teams.token_for_bot(), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": KEY_ID})
    with pytest.raises(Refused):
        _check(teams, unsigned)


def test_an_expired_token_is_refused(teams: FakeTeams) -> None:
    long_ago = int(time.time()) - 3600
    with pytest.raises(Refused, match=r"(?i)expired"):
        _check(teams, teams.token_for_bot(exp=long_ago, iat=long_ago - 60, nbf=long_ago - 60))


def test_a_token_for_another_app_is_refused(teams: FakeTeams) -> None:
    with pytest.raises(Refused, match=r"(?i)audience"):
        _check(teams, teams.token_for_bot(aud="00000000-0000-4000-8000-00000000ffff"))


def test_a_token_from_another_issuer_is_refused(teams: FakeTeams) -> None:
    with pytest.raises(Refused, match=r"(?i)issuer"):
        _check(teams, teams.token_for_bot(iss="https://sts.example.org/"))
    assert ISSUER != "https://sts.example.org/"


def test_a_token_for_another_service_url_is_refused(teams: FakeTeams) -> None:
    token = teams.token_for_bot(service_url="https://smba.example.org/emea/")
    with pytest.raises(Refused, match="service URL"):
        _check(teams, token)


def test_a_key_not_endorsed_for_the_channel_is_refused(teams: FakeTeams) -> None:
    with pytest.raises(Refused, match="endorsed"):
        _tokens(teams).check(
            f"Bearer {teams.token_for_bot()}", service_url=teams.service_url, channel_id="webchat"
        )


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer "])
def test_no_bearer_token_is_refused(teams: FakeTeams, header: str | None) -> None:
    with pytest.raises(Refused, match="no bearer token"):
        _tokens(teams).check(header, service_url=teams.service_url, channel_id="msteams")


def test_unreadable_metadata_refuses_rather_than_trusting() -> None:
    tokens = ActivityTokens(app_id="x", openid_url="http://127.0.0.1:9/none")
    with pytest.raises(Refused, match="signing keys unavailable"):
        tokens.check("Bearer a.b.c", service_url="http://x/", channel_id="msteams")
