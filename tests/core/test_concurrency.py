"""Many practitioners answering at once share one database without errors or lost answers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlmodel import func, select

from bot.reflection.service import ReflectionService
from storage.models import Answer


def test_parallel_reflections_lose_nothing(new_session, clock) -> None:
    service = ReflectionService(new_session, now=clock)
    people = [f"U0TESTP{n:03d}" for n in range(12)]

    def reflect(person: str) -> str | None:
        service.start(practitioner_id=person, case_ref=f"CSC-{person[-3:]}")
        reply = None
        for text in ["A day of school and not much food at home", "1", "skip", "skip"]:
            reply = service.respond(practitioner_id=person, text=text)
        return reply.status if reply else None

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(reflect, people))
    assert statuses == ["in_progress"] * len(people)
    with new_session() as session:
        assert session.exec(select(func.count()).select_from(Answer)).one() == 4 * len(people)


def test_one_practitioner_sending_twice_at_once_keeps_both_answers(new_session, clock) -> None:
    service = ReflectionService(new_session, now=clock)
    service.start(practitioner_id="U0TESTPRAC", case_ref="CSC-1001")
    service.respond(practitioner_id="U0TESTPRAC", text="skip")
    service.respond(practitioner_id="U0TESTPRAC", text="1")
    # The next two questions (development, identity) both take free text.
    texts = ["Quiet and watchful at nursery", "Family speaks Urdu at home"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda t: service.respond(practitioner_id="U0TESTPRAC", text=t), texts))
    with new_session() as session:
        stored = session.exec(select(Answer).where(Answer.status == "answered")).all()
    # Whichever order they landed in, both were stored, one per question.
    assert sorted(a.question_id for a in stored) == ["child_seen", "development", "identity"]
    assert {a.value for a in stored} >= set(texts)
