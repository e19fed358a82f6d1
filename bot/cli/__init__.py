"""The `reflect` command: one module per group of subcommands, each adding its parsers and
handlers; `command.py` builds the parser and runs what it names."""

from bot.cli.command import main

__all__ = ["main"]
