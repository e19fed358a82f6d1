"""How the terminal writes a message: plain text, people by their ID, a link as its label
and address; a reflection is started by running ``reflect``."""

from __future__ import annotations

from bot.render import PlainText

TERMINAL = PlainText(start_command="reflect", chat=False)
