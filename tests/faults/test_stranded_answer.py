"""An answer acknowledged just as the database goes away: its handling fails, and setting it
back for a retry fails too, so it stays claimed by a process that is alive. That process sets
it back itself as soon as the database answers, and the next question follows within seconds,
not when the claim runs out (60 s). PostgreSQL behind a proxy; skipped on SQLite runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select

from storage import db
from storage.models import Answer
from tests.faults.conftest import request, serve_env, served, through
from tests.faults.proxy import FaultProxy, Mode
from tests.slack.conftest import (  # noqa: F401  (a fixture)
    PRACTITIONER,
    command_body,
    organisation,
    sign,
    wait_until,
)
from tools.fake_slack import FakeSlack

pytestmark = pytest.mark.slow


def waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar_one()
        )


@pytest.mark.parametrize("mode", [Mode.REFUSE, Mode.BLACKHOLE])
def test_the_next_question_follows_soon_after_the_database_is_back(
    postgres_url: str,
    proxy: FaultProxy,
    engine: Engine,
    new_session: db.SessionFactory,
    organisation: None,  # noqa: F811
    fake_slack: FakeSlack,
    tmp_path: Path,
    mode: Mode,
) -> None:
    log = tmp_path / "serve.log"
    with served(serve_env(through(proxy, postgres_url), tmp_path, fake_slack), log) as server:
        command = command_body(PRACTITIONER, "CSC-5001", "trig.stranded")
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(command)}
        assert request(f"{server.base}/slack/events", command, headers)[0] == 200
        assert fake_slack.wait_for(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 1)

        with engine.connect() as holder:  # holds the handling up until the database goes
            holder.execute(
                text("SELECT id FROM reflection WHERE practitioner_id = :p FOR UPDATE"),
                {"p": PRACTITIONER},
            )
            # Today's question, answered in words: nothing is for today.
            typed = "No, just a planned visit"
            assert server.answer(PRACTITIONER, typed, "Ev0STRANDED")[0] == 200
            assert wait_until(lambda: waiting_on_a_lock(engine), timeout=5)
            proxy.set_mode(mode)
            assert wait_until(lambda: "could not set back inbox item" in log.read_text(), 10)
            holder.rollback()
        time.sleep(1.5)  # the database stays away a little longer
        assert len(fake_slack.messages_to(PRACTITIONER)) == 1
        proxy.set_mode(Mode.PASS)
        back = time.monotonic()
        assert fake_slack.wait_for(lambda: len(fake_slack.messages_to(PRACTITIONER)) == 2, 10)
        next_question = time.monotonic() - back
    with new_session() as session:
        assert [a.question_id for a in session.exec(select(Answer))] == ["today"]
    logged = log.read_text()
    assert "Traceback" not in logged and typed not in logged
    assert next_question < 10
    print(f"{mode.value}: the next question {next_question:.2f} s after the database was back")
