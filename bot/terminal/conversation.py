"""The terminal front end: a whole reflection read line by line from standard input."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import BinaryIO, TextIO

from bot.identity import is_person_id
from bot.reflection.messages import Reply, Said
from bot.render import Renderer
from bot.requests import Requests
from storage.statuses import ReflectionStatus

DEMO_PRACTITIONER = "UDEMO0001"


class TerminalConversation:
    def __init__(
        self,
        requests: Requests,
        renderer: Renderer,
        *,
        practitioner_id: str = DEMO_PRACTITIONER,
        out: TextIO = sys.stdout,
    ) -> None:
        self.requests = requests
        self.renderer = renderer
        self.practitioner_id = practitioner_id
        self.out = out

    def show(self, reply: Reply) -> None:
        for message in reply.messages:
            self.out.write(self.render(message) + "\n\n")
        self.out.flush()

    def render(self, message: Said) -> str:
        """A message as the terminal shows it. A summary leaves out the practitioner's own
        answers, as Slack keeps them behind a button: `reflect history` shows them in full."""
        if message.template != "summary":
            return self.renderer.message(message)
        summary = message.data.get("summary") or {}
        return (
            self.renderer.message(message, with_answers=False)
            + "\n\n"
            + self.renderer.render("cli/answers_in_history.j2", case_ref=summary.get("case_ref"))
        )

    def print_template(self, template: str, **data: object) -> None:
        self.out.write(self.renderer.render(f"cli/{template}.j2", **data) + "\n\n")
        self.out.flush()

    def run(self, case_ref: str, lines: BinaryIO) -> int:
        """Returns 0 when the reflection completed, 1 when input ended or was interrupted."""
        typed = _lines(lines)

        def next_line(reply: Reply) -> str | None:
            for raw in typed:
                try:
                    return raw.decode("utf-8")
                except UnicodeDecodeError:
                    self.print_template("not_utf8")
            return None

        return self._talk(case_ref, next_line)

    def converse(self, case_ref: str, answerer: Callable[[Reply], str | None]) -> int:
        """The same conversation as run(), each line given by ``answerer``, which sees the reply
        just shown (``reply.asks`` names the question and step on screen) and returns the line to
        type, or None to stop there as at the end of input. Returns what run() returns."""
        return self._talk(case_ref, answerer)

    def _talk(self, case_ref: str, next_line: Callable[[Reply], str | None]) -> int:
        reply = self.requests.start(practitioner_id=self.practitioner_id, case_ref=case_ref)
        self.show(reply)
        if reply.status != ReflectionStatus.IN_PROGRESS:
            return 0 if reply.status == ReflectionStatus.COMPLETED else 1
        try:
            while (text := next_line(reply)) is not None:
                reply = self.requests.respond(
                    practitioner_id=self.practitioner_id, text=text, named=person_typed(text)
                )
                self.show(reply)
                if reply.status in {
                    ReflectionStatus.COMPLETED,
                    ReflectionStatus.CANCELLED,
                    ReflectionStatus.PAUSED,
                }:
                    return 0 if reply.status == ReflectionStatus.COMPLETED else 1
        except KeyboardInterrupt:
            self._stop(case_ref, "interrupted")
            return 130
        self._stop(case_ref, "end_of_input")
        return 1

    def _stop(self, case_ref: str, why: str) -> None:
        # Every answer was committed as it was given; pausing marks where to resume.
        self.requests.respond(practitioner_id=self.practitioner_id, text="pause")
        self.print_template(why, case_ref=case_ref.strip().upper())


def person_typed(line: str) -> str | None:
    """The person a line names: their ID alone on the line, with or without a leading ``@``."""
    candidate = line.strip().removeprefix("@")
    return candidate if is_person_id(candidate) else None


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        if stream.isatty():
            sys.stdout.write("> ")
            sys.stdout.flush()
        line = stream.readline()
        if not line:
            return
        if stream.isatty():
            sys.stdout.write("\n")
        yield line.rstrip(b"\r\n")
