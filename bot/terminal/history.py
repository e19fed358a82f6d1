"""A case's summaries as `reflect history` prints them: in full, with the answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from bot.render import Renderer


def show_history(
    renderer: Renderer, *, case_ref: str, summaries: Sequence[Mapping[str, Any]], out: TextIO
) -> None:
    out.write(renderer.render("cli/history.j2", case_ref=case_ref, summaries=summaries) + "\n")
    for summary in summaries:
        out.write(renderer.render("messages/summary.j2", summary=summary, audience="record"))
        out.write("\n\n")
    out.flush()
