"""`reflect demo`: a whole reflection in the terminal, against the configured database."""

from __future__ import annotations

from typing import BinaryIO, TextIO

from bot.render import Renderer
from bot.requests import Requests
from bot.terminal.conversation import TerminalConversation


def run_demo(
    requests: Requests,
    renderer: Renderer,
    *,
    case_ref: str,
    practitioner_id: str,
    database_url: str,
    lines: BinaryIO,
    out: TextIO,
    notes: TextIO,
) -> int:
    """Say where the answers are kept (on ``notes``, so a transcript on ``out`` is the
    conversation alone), then run the reflection. Returns TerminalConversation.run's code."""
    notes.write(renderer.render("cli/demo_intro.j2", database=database_url) + "\n")
    notes.flush()
    conversation = TerminalConversation(
        requests, renderer, practitioner_id=practitioner_id, out=out
    )
    return conversation.run(case_ref, lines)
