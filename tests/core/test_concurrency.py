"""Many practitioners answering at once share one database without errors or lost answers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlmodel import func, select

from bot.requests import Requests
from storage.models import Answer
from tests.answering import answer_by_id


def test_parallel_reflections_lose_nothing(new_session, clock) -> None:
    service = Requests(new_session, now=clock, records=False)
    people = [f"U0TESTP{n:03d}" for n in range(12)]

    def reflect(person: str) -> str | None:
        service.start(practitioner_id=person, case_ref=f"CSC-{person[-3:]}")
        reply = None
        for text in ["A planned visit about food at home", "That she goes hungry", "skip", "skip"]:
            reply = service.respond(practitioner_id=person, text=text)
        return reply.status if reply else None

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(reflect, people))
    assert statuses == ["in_progress"] * len(people)
    with new_session() as session:
        assert session.exec(select(func.count()).select_from(Answer)).one() == 4 * len(people)


def test_one_practitioner_sending_twice_at_once_keeps_both_answers(new_session, clock) -> None:
    service = Requests(new_session, now=clock, records=False)
    answer_by_id(service, "U0TESTPRAC", "CSC-1001", {"child_seen": "1"}, stop_at="development")
    # The next two questions (development, household) both take free text.
    texts = ["Quiet and watchful at nursery", "Mum, her sister and the two children"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda t: service.respond(practitioner_id="U0TESTPRAC", text=t), texts))
    with new_session() as session:
        stored = session.exec(select(Answer).where(Answer.status == "answered")).all()
    # Whichever order they landed in, both were stored, one per question.
    assert sorted(a.question_id for a in stored) == ["child_seen", "development", "household"]
    assert {a.value for a in stored} >= set(texts)
