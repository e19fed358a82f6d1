"""The fake Teams, one per test module (it is cheap, and each test resets what it recorded)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.fake_teams import FakeTeams, fake_teams


@pytest.fixture(scope="module")
def _fake_teams_server() -> Iterator[FakeTeams]:
    with fake_teams() as fake:
        yield fake


@pytest.fixture
def teams(_fake_teams_server: FakeTeams) -> Iterator[FakeTeams]:
    _fake_teams_server.reset()
    yield _fake_teams_server
    _fake_teams_server.reset()
