"""What the `reflect` command prints: templates under prompts/cli/, and new files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bot.render import renderer
from bot.terminal.dialect import TERMINAL


def print_template(template: str, *, stream: object = None, **data: object) -> None:
    text = renderer(TERMINAL).render(f"cli/{template}.j2", **data)
    print(text, file=stream or sys.stdout)  # type: ignore[arg-type]


def write_new_file(path: Path, text: str, *, exists: str) -> bool:
    """Write ``text`` to a new file only its owner can read; never over an existing one (said
    with the template ``exists``). False, with the reason said, if it was not written."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print_template(exists, stream=sys.stderr, path=path)
        return False
    except OSError as exc:
        print_template(
            "error", stream=sys.stderr, message=f"Could not write {path}: {exc.strerror}."
        )
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return True
