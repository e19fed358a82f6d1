"""How long a reflection takes: every practice vignette driven through the terminal conversation.

    python -m benchmarks.reflection_length
    python -m benchmarks.reflection_length --transcript hv-drinking-unmet-partner

Each vignette in tests/practice/vignettes/ is answered as its practitioner would type it, by the
same driver the vignette tests use, on a temporary SQLite database; so is each blind vignette
(tests/practice/blind/ and blind2/, answered topic by topic by tests/practice/blind.py), with
its own medians. For each reflection it prints
the replies typed (and how many of them were written answers), the words read (everything
Reflect showed, rendered as the terminal shows it, the closing summary included, its share
apart), the words typed, and an estimate of the minutes it takes, by the model the welcome's
promise uses too (bot/reflection/length.py):

    minutes = words read / 200 + words typed / 30 + thinking time

- Reading at 200 words a minute: a careful reading of plain prose on a screen, slower than
  skimming (about 250) because the questions are meant to be thought about.
- Typing at 30 words a minute: a practitioner typing at a desk, between two-finger typing (about
  20) and a practised typist (40 and more); on a phone it is slower.
- Thinking before each reply: 15 seconds before a written answer (more than three words), 4
  seconds before a short one (a number, a choice, a date, "yes", "same", "skip", "me"). Reading
  and typing are counted apart, and 30 words a minute is already the pace of someone composing
  as they type, so this is only the pause before starting: recalling the case and deciding what
  to say. A practitioner about to visit knows the case, and the options of a choice have
  already been counted as read.

Beside the estimate: what the welcome promised ("about N minutes"), and the minutes Reflect
recorded for the reflection from the times its answers arrived (the driver moves the clock on by
the estimate for each reply, so it differs from the estimate by the closing summary, which is
read after the last answer). All are estimates, not measurements; the minutes recorded in real
use are the way to check them. The medians are over honest practitioners' reflections (the
earlier reflection of a repeat vignette counts as a first one); the skip-everything probe is
shown but left out.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import SQLModel

from bot.reflection import length
from bot.render import Renderer
from bot.terminal.dialect import TERMINAL
from storage import db
from storage.encryption import generate_key, keyring
from tests.practice import blind, driver


@dataclass(frozen=True)
class Row:
    vignette: str
    collection: str  # vignettes | blind | blind2
    role: str
    which: str  # first | repeat
    counted: bool  # in the median: an honest reflection, not the probe
    run: driver.Run


def measure(directory: Path) -> tuple[list[Row], list[str]]:
    """A row per reflection, and what went wrong with any vignette that could not be driven."""
    keyring.configure([generate_key()])
    engine = db.make_engine(f"sqlite:///{directory}/reflection-length.db")
    db.upgrade(engine)
    new_session = db.session_factory(engine)
    rows: list[Row] = []
    errors: list[str] = []
    try:
        for vignette in driver.load_all():
            try:
                outcome = driver.drive(vignette, new_session, workdir=directory)
            except driver.VignetteError as exc:
                errors.append(str(exc))
                _empty(engine)
                continue
            honest = vignette.kind != "probe"
            if outcome.earlier is not None:
                rows.append(
                    Row(vignette.name, "vignettes", vignette.role, "first", honest, outcome.earlier)
                )
            which = "repeat" if outcome.earlier is not None else "first"
            rows.append(
                Row(vignette.name, "vignettes", vignette.role, which, honest, outcome.final)
            )
            _empty(engine)
        for collection in blind.SETS:
            for written in blind.load_set(collection):
                try:
                    score = blind.drive(written, new_session, directory)
                except driver.VignetteError as exc:
                    errors.append(str(exc))
                else:
                    rows.append(
                        Row(written.name, collection, written.role, "first", True, score.run)
                    )
                _empty(engine)
    finally:
        engine.dispose()
    return rows, errors


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())


def table(rows: list[Row]) -> str:
    header = (
        f"{'vignette':<30} {'role':<15} {'reflection':<10} {'replies':>7} {'written':>7} "
        f"{'read':>6} {'summary':>7} {'typed':>6} {'minutes':>7} {'welcome':>7} {'recorded':>8}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        run = row.run
        written = sum(1 for t in run.turns if not t.short)
        lines.append(
            f"{row.vignette:<30} {row.role:<15} {row.which + ('' if row.counted else '*'):<10} "
            f"{len(run.turns):>7} {written:>7} {run.words_read:>6} {run.words_read_summary:>7} "
            f"{run.words_typed:>6} {run.minutes:>7.1f} {_or_dash(run.promised_minutes):>7} "
            f"{_or_dash(run.reflection.minutes if run.reflection else None):>8}"
        )
    return "\n".join(lines)


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def medians(rows: list[Row]) -> list[str]:
    lines = []
    for collection, which in [(c, w) for c in COLLECTIONS for w in ("first", "repeat")]:
        counted = [
            r.run for r in rows if r.which == which and r.counted and r.collection == collection
        ]
        if not counted:
            continue
        lines.append(
            f"{COLLECTIONS[collection]}: median {which} reflection ({len(counted)}): "
            f"{statistics.median(r.minutes for r in counted):.1f} minutes, "
            f"{statistics.median(len(r.turns) for r in counted):g} replies, "
            f"{statistics.median(r.words_read for r in counted):g} words read"
        )
    return lines


COLLECTIONS = {
    "vignettes": "practice vignettes",
    "blind": "blind set",
    "blind2": "blind generalisation set",
}


def unscripted(rows: list[Row]) -> list[str]:
    lines = []
    for row in rows:
        if row.collection == "vignettes" and row.counted and row.run.unscripted:
            lines.append(
                f"{row.vignette} ({row.which}): not scripted, answered skip: "
                + ", ".join(row.run.unscripted)
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--transcript",
        metavar="VIGNETTE",
        help="also print everything shown and typed in this vignette's reflections",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        rows, errors = measure(Path(directory))
    print(
        "Estimated minutes = words read / "
        f"{length.READING_WPM} + words typed / {length.TYPING_WPM} "
        f"+ {length.THINK_SECONDS_WRITTEN} s of thinking before each written answer "
        f"+ {length.THINK_SECONDS_SHORT} s before each reply of {length.SHORT_REPLY_WORDS} "
        "words or fewer (a number, a choice, a date, yes, same, skip).\n"
        "Words read: everything Reflect showed, as the terminal shows it, the closing summary "
        "included (its share in 'summary'). Estimates, not measurements: see the module's "
        "docstring for why these figures.\n"
    )
    print(table(rows))
    print("* the skip-everything probe: not in the median\n")
    print("\n".join(medians(rows)))
    notes = unscripted(rows) + [f"could not be driven: {e}" for e in errors]
    if notes:
        print("\n" + "\n".join(notes))
    if args.transcript:
        chosen = [r for r in rows if r.vignette == args.transcript]
        if not chosen and args.transcript not in str(errors):
            print(f"\nno vignette named {args.transcript}", file=sys.stderr)
            return 2
        for row in chosen:
            print(f"\n===== {row.vignette}, {row.which} reflection =====\n")
            print(_interleaved(row.run))
    return 0


def _interleaved(run: driver.Run) -> str:
    """What was shown, each typed line after the reply it answered."""
    renderer = Renderer(TERMINAL)
    parts = []
    for index, reply in enumerate(run.replies):
        parts.extend(renderer.message(m) for m in reply.messages)
        if index < len(run.turns):
            parts.append(f"> {run.turns[index].text}")
    return "\n\n".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
