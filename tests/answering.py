"""Answering a reflection by question id through the service, as the tests that need a whole
reflection (or one up to a question) do: the question set's order lives in prompts/questions.yaml,
so a test names the questions it answers and the order comes from the service itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.reflection.messages import Reply
from bot.reflection.service import CONFIRM
from bot.requests import Requests

Answers = Mapping[str, str | list[str]]


@dataclass
class Walk:
    """What a walk through a reflection saw: every reply, and each position answered."""

    replies: list[Reply] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)  # "question" or "question:step", in order

    @property
    def last(self) -> Reply:
        return self.replies[-1]

    @property
    def summary(self) -> dict[str, Any]:
        """The summary of the reflection the walk completed."""
        assert self.last.completion is not None
        return self.last.completion.summary

    @property
    def flagged(self) -> set[str]:
        """The rules whose flags the summary shows."""
        return {f["rule"] for f in self.summary["flags"]}


def answer_by_id(
    service: Requests,
    practitioner_id: str,
    case_ref: str,
    answers: Answers,
    *,
    stop_at: str | None = None,
    send: bool = True,
    limit: int = 200,
) -> Walk:
    """Start (or resume) a reflection on ``case_ref`` and answer what is asked by its id, or by
    "id:step" for a plan step; a list answers the same question each time it is asked. What is
    not scripted is skipped. Stops when ``stop_at`` (an id or "id:step") is asked, else at the
    confirmation, which is sent when ``send``. Every scripted answer must have been used: a test
    cannot quietly stop exercising the question it names."""
    queues = {k: list(v) if isinstance(v, list) else [v] for k, v in answers.items()}
    walk = Walk(replies=[service.start(practitioner_id=practitioner_id, case_ref=case_ref)])
    position = walk.last.asks
    for _ in range(limit):
        reply = walk.last
        # A reply that asks nothing new (an answer not understood) leaves the same question.
        position = reply.asks or position
        if reply.status != "in_progress" or position is None:
            break
        question, step = position.question, position.step
        here = f"{question}:{step}" if step else str(question)
        if stop_at is not None and stop_at in {here, question}:
            break
        if question == CONFIRM:
            if not send:
                break
            text = "send"
        else:
            queue = queues.get(here) or queues.get(str(question)) or []
            text = queue.pop(0) if queue else "skip"
            walk.asked.append(here)
        walk.replies.append(service.respond(practitioner_id=practitioner_id, text=text))
    else:
        raise AssertionError(f"the reflection never finished; asked {walk.asked}")
    unused = {key: left for key, left in queues.items() if left}
    assert not unused, f"scripted answers never asked for: {unused}; asked {walk.asked}"
    return walk
