"""Time travel through each job: a controlled `now`, weekends, bank holidays, clock changes."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from slack_sdk.web import WebClient
from sqlmodel import col, select

from bot.clock import jobs
from bot.config.clock import Thresholds
from bot.settings import Settings
from bot.slack.directory import SlackDirectory
from storage.db import SessionFactory, transaction
from storage.models import ClockPrompt, HandledKey, OutboxMessage
from tests.clock import helpers as h
from tools.fake_slack import fake_slack


def outbox_rows(new_session: SessionFactory) -> list[OutboxMessage]:
    with new_session() as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


def prompt_rows(new_session: SessionFactory) -> list[ClockPrompt]:
    with new_session() as session:
        return list(session.exec(select(ClockPrompt).order_by(col(ClockPrompt.id))))


def shown(message: OutboxMessage) -> str:
    """What the message shows: its sections' text (its ``text`` is only the notification)."""
    blocks = h.rendered(message)["blocks"]
    return "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")


def button(message: OutboxMessage) -> dict:
    actions = [b for b in h.rendered(message)["blocks"] if b["type"] == "actions"]
    return actions[0]["elements"][0]


# ------------------------------------------------------------------ long-open cases


def test_long_open_case_prompts_its_practitioner_with_a_button(
    new_session: SessionFactory,
) -> None:
    case_id = h.case(new_session, "CSC-1001", opened_on=date(2026, 8, 1))
    context = h.context_at(new_session, "2026-12-07T09:30")  # a Monday morning
    assert jobs.long_open_cases(context) == 1
    [message] = outbox_rows(new_session)
    assert message.recipient == h.PRACTITIONER
    assert h.rendered(message)["channel"] == h.PRACTITIONER
    assert message.next_attempt_at == context.now
    assert "`/reflect CSC-1001`" in shown(message)
    assert button(message)["action_id"] == "reflect_start"
    assert button(message)["value"] == "CSC-1001"
    [prompt] = prompt_rows(new_session)
    assert prompt.key == message.dedupe_key == f"long_open:{case_id}:2026-12-07"
    assert (prompt.subject_id, prompt.recipient_id) == (case_id, h.PRACTITIONER)


def test_long_open_at_most_once_per_quiet_period(new_session: SessionFactory) -> None:
    h.case(new_session, "CSC-1001", opened_on=date(2026, 8, 1))
    assert jobs.long_open_cases(h.context_at(new_session, "2026-12-07T09:30")) == 1
    assert jobs.long_open_cases(h.context_at(new_session, "2026-12-07T09:35")) == 0
    assert jobs.long_open_cases(h.context_at(new_session, "2027-01-01T10:00")) == 0
    assert jobs.long_open_cases(h.context_at(new_session, "2027-01-04T09:35")) == 1
    assert len(outbox_rows(new_session)) == 2


def test_long_open_leaves_young_recently_reflected_and_closed_cases_alone(
    new_session: SessionFactory,
) -> None:
    now = h.local("2026-12-07T09:30")
    h.case(new_session, "CSC-2001", opened_on=date(2026, 9, 9))  # 89 days
    reflected = h.case(new_session, "CSC-2002", opened_on=date(2026, 1, 5))
    h.reflection(new_session, reflected, status="completed", at=now - timedelta(days=27))
    h.case(new_session, "CSC-2003", opened_on=date(2026, 1, 5), closed_on=date(2026, 11, 30))
    stale = h.case(new_session, "CSC-2004", opened_on=date(2026, 1, 5))
    h.reflection(new_session, stale, status="completed", at=now - timedelta(days=29))
    h.case(new_session, "CSC-2005", opened_on=date(2026, 9, 8))  # 90 days: due
    assert jobs.long_open_cases(h.context_at(new_session, now)) == 2
    assert sorted(
        h.rendered(m)["blocks"][-1]["elements"][0]["value"] for m in outbox_rows(new_session)
    ) == ["CSC-2004", "CSC-2005"]


@pytest.mark.parametrize(
    ("decided", "sent_from"),
    [
        ("2026-12-05T10:00", "2026-12-07T09:00"),  # Saturday -> Monday
        ("2026-12-07T17:10", "2026-12-08T09:00"),  # Monday evening -> Tuesday
        ("2026-12-24T16:59", "2026-12-24T16:59"),  # last minute of Christmas Eve
        ("2026-12-25T10:00", "2026-12-29T09:00"),  # Christmas Day, Boxing Day Monday 28th
        ("2027-01-01T10:00", "2027-01-04T09:00"),  # New Year's Day (Friday)
    ],
)
def test_decided_outside_working_hours_waits_for_the_next_slot(
    new_session: SessionFactory, decided: str, sent_from: str
) -> None:
    h.case(new_session, "CSC-1001", opened_on=date(2026, 1, 5))
    assert jobs.long_open_cases(h.context_at(new_session, decided)) == 1
    [message] = outbox_rows(new_session)
    assert message.next_attempt_at == h.local(sent_from)


@pytest.mark.parametrize(
    ("decided_utc", "sent_from_utc"),
    [
        # Saturday 28 March 2026 GMT; the clocks go forward on Sunday: Monday 09:00 BST.
        ("2026-03-28T12:00", "2026-03-30T08:00"),
        # Saturday 24 October 2026 BST; the clocks go back on Sunday: Monday 09:00 GMT.
        ("2026-10-24T12:00", "2026-10-26T09:00"),
    ],
)
def test_a_prompt_held_across_the_clock_change_lands_at_nine_local(
    new_session: SessionFactory, decided_utc: str, sent_from_utc: str
) -> None:
    from datetime import UTC, datetime

    h.case(new_session, "CSC-1001", opened_on=date(2025, 1, 5))
    now = datetime.fromisoformat(decided_utc).replace(tzinfo=UTC)
    assert jobs.long_open_cases(h.context_at(new_session, now)) == 1
    [message] = outbox_rows(new_session)
    assert message.next_attempt_at == datetime.fromisoformat(sent_from_utc).replace(tzinfo=UTC)
    assert message.next_attempt_at.astimezone(h.LONDON).hour == 9


def test_agency_settings_override_the_deployment_defaults(new_session: SessionFactory) -> None:
    h.organisation(new_session, clock={"long_open_days": 30})
    h.case(new_session, "CSC-3001", opened_on=date(2026, 10, 28))  # 40 days, agency csc
    h.case(new_session, "CSC-3002", opened_on=date(2026, 10, 28), practitioner="U0OTHERPRC")
    assert jobs.long_open_cases(h.context_at(new_session, "2026-12-07T09:30")) == 1
    assert [m.recipient for m in outbox_rows(new_session)] == [h.PRACTITIONER]


def test_deployment_thresholds_come_from_the_environment(
    new_session: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFLECT_LONG_OPEN_DAYS", "30")
    config = Settings().clock
    assert config.thresholds == Thresholds(long_open_days=30)
    h.case(new_session, "CSC-3003", opened_on=date(2026, 10, 28))
    assert jobs.long_open_cases(h.context_at(new_session, "2026-12-07T09:30", config=config)) == 1


def test_email_practitioners_are_looked_up_and_unknown_ones_retried_later(
    new_session: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    h.case(new_session, "CSC-4001", opened_on=date(2026, 1, 5), practitioner="known@example.org")
    unknown = h.case(
        new_session, "CSC-4002", opened_on=date(2026, 1, 5), practitioner="new@example.org"
    )
    h.case(new_session, "CSC-4003", opened_on=date(2026, 1, 5))
    with fake_slack() as slack:
        slack.users_by_email["known@example.org"] = "U0TESTKNWN"
        client = WebClient(token="xoxb-test", base_url=slack.url)
        with caplog.at_level(logging.WARNING, logger="bot.clock"):
            decided = jobs.long_open_cases(
                h.context_at(new_session, "2026-12-07T09:30", directory=SlackDirectory(client))
            )
        assert decided == 2
        assert sorted(m.recipient for m in outbox_rows(new_session)) == [
            "U0TESTKNWN",
            h.PRACTITIONER,
        ]
        [line] = [
            r.getMessage() for r in caplog.records if "no one in the workspace" in r.getMessage()
        ]
        assert f"case id {unknown}" in line
        assert "@" not in line  # no e-mail address in the log
        slack.users_by_email["new@example.org"] = "U0TESTNEWP"
        later = h.context_at(new_session, "2026-12-07T09:35", directory=SlackDirectory(client))
        assert jobs.long_open_cases(later) == 1
    assert outbox_rows(new_session)[-1].recipient == "U0TESTNEWP"


# ------------------------------------------------------------------ unfinished reflections


def test_unfinished_reflection_gets_one_nudge(new_session: SessionFactory) -> None:
    now = h.local("2026-12-08T10:00")
    paused_case = h.case(new_session, "CSC-5001", opened_on=date(2026, 11, 1))
    paused = h.reflection(new_session, paused_case, status="paused", at=now - timedelta(hours=25))
    fresh_case = h.case(new_session, "CSC-5002", opened_on=date(2026, 11, 1))
    fresh = h.reflection(
        new_session, fresh_case, status="in_progress", at=now - timedelta(hours=23)
    )
    done_case = h.case(new_session, "CSC-5003", opened_on=date(2026, 11, 1))
    h.reflection(
        new_session, done_case, status="completed", at=now - timedelta(days=3), lead_confirmed=True
    )
    closed = h.case(
        new_session, "CSC-5004", opened_on=date(2026, 11, 1), closed_on=date(2026, 12, 1)
    )
    h.reflection(new_session, closed, status="paused", at=now - timedelta(days=3))

    assert jobs.unfinished_reflections(h.context_at(new_session, now)) == 1
    [message] = outbox_rows(new_session)
    assert message.dedupe_key == f"unfinished:{paused}"
    assert (button(message)["action_id"], button(message)["value"]) == ("reflect_start", "CSC-5001")
    assert jobs.unfinished_reflections(h.context_at(new_session, now + timedelta(days=5))) == 1
    assert jobs.unfinished_reflections(h.context_at(new_session, now + timedelta(days=6))) == 0
    assert [m.dedupe_key for m in outbox_rows(new_session)] == [
        f"unfinished:{paused}",
        f"unfinished:{fresh}",
    ]


# ------------------------------------------------------------------ safeguarding lead


def test_lead_followup_after_two_working_days(new_session: SessionFactory) -> None:
    h.organisation(new_session)
    finished = h.local("2026-12-04T15:00")  # a Friday afternoon
    reflected = h.case(new_session, "CSC-6001", opened_on=date(2026, 11, 1))
    reflection_id = h.reflection(new_session, reflected, status="completed", at=finished)
    confirmed = h.case(new_session, "CSC-6002", opened_on=date(2026, 11, 1))
    h.reflection(new_session, confirmed, status="completed", at=finished, lead_confirmed=True)

    assert jobs.lead_followups(h.context_at(new_session, "2026-12-08T14:55")) == 0
    assert jobs.lead_followups(h.context_at(new_session, "2026-12-08T15:00")) == 1
    assert jobs.lead_followups(h.context_at(new_session, "2026-12-09T15:00")) == 0
    [message] = outbox_rows(new_session)
    assert (button(message)["action_id"], button(message)["value"]) == (
        "lead_contact_confirmed",
        str(reflection_id),
    )
    assert f"<@{h.LEAD}>" in shown(message)


def test_lead_followup_skips_christmas_and_the_bank_holidays(new_session: SessionFactory) -> None:
    reflected = h.case(new_session, "CSC-6003", opened_on=date(2026, 11, 1))
    h.reflection(new_session, reflected, status="completed", at=h.local("2026-12-24T10:00"))
    # 25th, 26th-27th weekend, 28th bank holiday: Tuesday 29th and Wednesday 30th count.
    assert jobs.lead_followups(h.context_at(new_session, "2026-12-29T16:00")) == 0
    assert jobs.lead_followups(h.context_at(new_session, "2026-12-30T09:59")) == 0
    assert jobs.lead_followups(h.context_at(new_session, "2026-12-30T10:00")) == 1


def test_lead_followup_across_the_spring_clock_change(new_session: SessionFactory) -> None:
    from datetime import UTC, datetime

    reflected = h.case(new_session, "CSC-6004", opened_on=date(2026, 1, 1))
    # Friday 27 March 2026, 15:00 GMT: due Tuesday 31 March 15:00 BST (14:00 UTC).
    h.reflection(
        new_session, reflected, status="completed", at=datetime(2026, 3, 27, 15, 0, tzinfo=UTC)
    )
    before = datetime(2026, 3, 31, 13, 59, tzinfo=UTC)
    assert jobs.lead_followups(h.context_at(new_session, before)) == 0
    assert jobs.lead_followups(h.context_at(new_session, before + timedelta(minutes=1))) == 1


# ------------------------------------------------------------------ actions


def test_action_reminders_on_the_due_date_to_practitioner_and_owner(
    new_session: SessionFactory,
) -> None:
    reflected = h.case(new_session, "CSC-7001", opened_on=date(2026, 11, 1))
    reflection_id = h.reflection(
        new_session,
        reflected,
        status="completed",
        at=h.local("2026-12-01T10:00"),
        lead_confirmed=True,
    )
    action_id = h.action(
        new_session, reflection_id, due_on=date(2026, 12, 9), owner_person_id=h.OWNER
    )
    h.action(new_session, reflection_id, due_on=date(2026, 12, 9), done=True)

    assert jobs.action_reminders(h.context_at(new_session, "2026-12-08T16:00")) == 0
    early = h.context_at(new_session, "2026-12-09T07:00")
    assert jobs.action_reminders(early) == 2
    assert jobs.action_reminders(h.context_at(new_session, "2026-12-09T10:00")) == 0
    practitioner, owner = outbox_rows(new_session)
    assert practitioner.dedupe_key == f"action_due:{action_id}:{h.PRACTITIONER}"
    assert owner.dedupe_key == f"action_due:{action_id}:{h.OWNER}"
    assert "Ask the school nurse about attendance" in shown(practitioner)
    # The owner hears the case and the date, not what the practitioner wrote.
    assert "school nurse" not in shown(owner)
    assert f"<@{h.PRACTITIONER}>" in shown(owner)
    assert practitioner.next_attempt_at == h.local("2026-12-09T09:00")


def test_action_due_on_a_bank_holiday_is_reminded_the_working_day_before(
    new_session: SessionFactory,
) -> None:
    reflected = h.case(new_session, "CSC-7002", opened_on=date(2026, 11, 1))
    reflection_id = h.reflection(
        new_session,
        reflected,
        status="completed",
        at=h.local("2026-12-01T10:00"),
        lead_confirmed=True,
    )
    h.action(new_session, reflection_id, due_on=date(2026, 12, 28))  # Boxing Day substitute
    assert jobs.action_reminders(h.context_at(new_session, "2026-12-23T12:00")) == 0
    assert jobs.action_reminders(h.context_at(new_session, "2026-12-24T12:00")) == 1


def test_user_text_in_a_reminder_is_escaped(new_session: SessionFactory) -> None:
    reflected = h.case(new_session, "CSC-7003", opened_on=date(2026, 11, 1))
    reflection_id = h.reflection(
        new_session,
        reflected,
        status="completed",
        at=h.local("2026-12-01T10:00"),
        lead_confirmed=True,
    )
    h.action(new_session, reflection_id, due_on=date(2026, 12, 9), what="Tell <!channel> & go")
    assert jobs.action_reminders(h.context_at(new_session, "2026-12-09T10:00")) == 1
    [message] = outbox_rows(new_session)
    assert "<!channel>" not in shown(message)
    assert "&lt;!channel&gt; &amp; go" in shown(message)


# ------------------------------------------------------------------ weekly digest


def _supervisor_week(new_session: SessionFactory) -> None:
    h.organisation(new_session)
    first = h.case(new_session, "CSC-8001", opened_on=date(2026, 11, 1))
    h.reflection(
        new_session, first, status="completed", at=h.local("2026-12-03T11:00"), lead_confirmed=True
    )
    h.case(new_session, "CSC-8002", opened_on=date(2026, 6, 1))
    third = h.case(new_session, "CSC-8003", opened_on=date(2026, 11, 1))
    acked = h.reflection(
        new_session,
        third,
        status="completed",
        at=h.local("2026-11-20T11:00"),
        acknowledged=True,
        lead_confirmed=True,
    )
    h.action(new_session, acked, due_on=date(2026, 12, 1), what="Private detail of the plan")


def test_weekly_digest_on_monday_morning_lists_case_refs_only(
    new_session: SessionFactory,
) -> None:
    _supervisor_week(new_session)
    assert jobs.weekly_digests(h.context_at(new_session, "2026-12-06T20:00")) == 0  # Sunday
    assert jobs.weekly_digests(h.context_at(new_session, "2026-12-07T08:55")) == 0
    assert jobs.weekly_digests(h.context_at(new_session, "2026-12-07T09:00")) == 1
    assert jobs.weekly_digests(h.context_at(new_session, "2026-12-09T09:00")) == 0
    [message] = outbox_rows(new_session)
    assert message.recipient == h.SUPERVISOR
    assert message.dedupe_key == f"digest:{h.SUPERVISOR}:2026-W50"
    text = shown(message)
    assert "CSC-8001" in text  # awaiting acknowledgement
    assert "CSC-8002" in text  # long open without reflection
    assert "CSC-8003" in text  # overdue action
    assert "Private detail" not in text
    assert jobs.weekly_digests(h.context_at(new_session, "2026-12-14T09:10")) == 1


def test_digest_week_starting_with_a_bank_holiday_waits_for_tuesday(
    new_session: SessionFactory,
) -> None:
    _supervisor_week(new_session)
    assert jobs.weekly_digests(h.context_at(new_session, "2027-03-29T09:30")) == 0  # Easter Mon
    assert jobs.weekly_digests(h.context_at(new_session, "2027-03-30T09:00")) == 1


def test_supervisor_with_nothing_to_report_gets_no_message(new_session: SessionFactory) -> None:
    h.organisation(new_session)
    assert jobs.weekly_digests(h.context_at(new_session, "2026-12-07T09:00")) == 1
    assert outbox_rows(new_session) == []
    assert [p.key for p in prompt_rows(new_session)] == [f"digest:{h.SUPERVISOR}:2026-W50"]
    assert jobs.weekly_digests(h.context_at(new_session, "2026-12-07T09:05")) == 0


# ------------------------------------------------------------------ retention


def test_the_clock_runs_the_retention_purge(new_session: SessionFactory) -> None:
    with transaction(new_session) as session:
        session.add(HandledKey(event_id="Ev0OLDONE", received_at=h.local("2026-11-20T09:00")))
        session.add(HandledKey(event_id="Ev0RECENT", received_at=h.local("2026-12-06T09:00")))
    assert jobs.retention(h.context_at(new_session, "2026-12-07T09:00")) == 0
    with new_session() as session:
        assert session.exec(select(HandledKey.event_id)).all() == ["Ev0RECENT"]


def test_email_lookups_stop_for_the_run_when_slack_rate_limits_them(
    new_session: SessionFactory,
) -> None:
    for number in range(3):
        h.case(
            new_session,
            f"CSC-{4100 + number}",
            opened_on=date(2026, 1, 5),
            practitioner=f"p{number}@example.org",
        )
    with fake_slack() as slack:
        for number in range(3):
            slack.users_by_email[f"p{number}@example.org"] = f"U0TESTP{number:03d}"
        slack.fail_next(1, status=429, retry_after=30, method="users.lookupByEmail")
        client = WebClient(token="xoxb-test", base_url=slack.url, retry_handlers=[])
        first = h.context_at(new_session, "2026-12-07T09:30", directory=SlackDirectory(client))
        assert jobs.long_open_cases(first) == 0
        lookups = [c.status for c in slack.calls if c.method == "users.lookupByEmail"]
        assert lookups == [429]  # the rate-limited lookup, and no others after it
        later = h.context_at(new_session, "2026-12-07T09:35", directory=SlackDirectory(client))
        assert jobs.long_open_cases(later) == 3
