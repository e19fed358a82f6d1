"""Renders the service's messages through the Jinja2 templates in prompts/, in a front end's
dialect.

Templates under prompts/messages, notices, clock and report are neutral: they never write a
platform's markup themselves, but ask the dialect for it (docs/architecture.md, "Neutral
markup in templates"):

- ``{{ strong("skip") }}``, ``{{ strong("Welcome back to ", case_ref, ".") }}``: emphasis over
  text and values (each value escaped, a mention kept); ``italic`` and ``quote`` (one quoted
  line) likewise, and each also as a filter (``{{ case_ref | strong }}``);
- ``{{ person_id | mention }}``, ``{{ person_ids | mentions }}``: a person, as the platform
  names them;
- ``{{ url | link("label") }}``: a link;
- ``{{ command("list") }}``: a command to type, shown as one (``start_command`` is the bare
  word that starts a reflection: ``/reflect`` in Slack, ``reflect`` in Teams and the terminal);
- ``chat`` (people type to Reflect in a chat, not at a shell) and ``mentions_understood``
  (a person named with the platform's own mention is understood).

Every interpolated value passes through the dialect's ``escape``, so no text a person typed can
become a mention, a link or markup; only what the dialect's own functions build passes as it is.
In every dialect a value is shown without bidirectional controls (bot/protection/invisible.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from bot.protection.invisible import without_bidi
from bot.reflection.messages import Said

if TYPE_CHECKING:
    from bot.casework.records import CaseExport

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"
# The folders whose templates every front end renders, in its own dialect.
NEUTRAL_FOLDERS = ("messages", "notices", "clock", "report")

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_<>#|\[\]!~&]|(?<=\])\()")


class Dialect(Protocol):
    """How one front end writes emphasis, people, links and commands, and makes typed text
    inert. ``escape`` is applied to every interpolated value; the other functions are given
    text already escaped (or built by the dialect) and return markup."""

    @property
    def start_command(self) -> str:
        """The word a person types to start or carry on a reflection."""
        ...

    @property
    def chat(self) -> bool:
        """People type to Reflect in a chat (False: they run commands at a shell)."""
        ...

    @property
    def mentions_understood(self) -> bool:
        """A person named with the platform's own mention in an answer is understood."""
        ...

    def __hash__(self) -> int:
        """A dialect is a value: one compiled template set serves each (``renderer``)."""
        ...

    def escape(self, text: str) -> str:
        """Typed text made inert: it can form no mention, link or markup."""
        ...

    def emphasis(self, text: str) -> str: ...

    def italic(self, text: str) -> str: ...

    def mention(self, person_id: str) -> str:
        """A person as the platform shows them (``person_id`` as the organisation file names
        them; it may be another platform's ID, and must then still be shown inertly)."""
        ...

    def link(self, url: str, label: str) -> str: ...

    def quote(self, text: str) -> str:
        """One line quoted from what someone wrote."""
        ...

    def command(self, text: str) -> str:
        """A command to type, shown as one."""
        ...


class Rendered(str):
    """Markup a dialect built (a mention, emphasis, a link): passed through unescaped."""


@dataclass(frozen=True)
class PlainText:
    """No markup at all: the terminal, a button's label, a console's output."""

    start_command: str = "reflect"
    chat: bool = False
    mentions_understood: bool = False

    def escape(self, text: str) -> str:
        return text

    def emphasis(self, text: str) -> str:
        return text

    def italic(self, text: str) -> str:
        return text

    def mention(self, person_id: str) -> str:
        return person_id

    def link(self, url: str, label: str) -> str:
        return f"{label} ({url})" if label else url

    def quote(self, text: str) -> str:
        return f"> {text}"

    def command(self, text: str) -> str:
        return text


PLAIN = PlainText()


@dataclass(frozen=True)
class MarkdownFile:
    """A Markdown file (the case export): every value inert and on one line."""

    start_command: str = "reflect"
    chat: bool = False
    mentions_understood: bool = False

    def escape(self, text: str) -> str:
        return markdown_text(text)

    def emphasis(self, text: str) -> str:
        return f"**{text}**"

    def italic(self, text: str) -> str:
        return f"_{text}_"

    def mention(self, person_id: str) -> str:
        return markdown_text(person_id)

    def link(self, url: str, label: str) -> str:
        return f"[{label or markdown_text(url)}](<{url}>)"

    def quote(self, text: str) -> str:
        return f"> {text}"

    def command(self, text: str) -> str:
        return f"`{text}`"


MARKDOWN_FILE = MarkdownFile()


def format_date(value: date | str | None, style: str = "long") -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    if style == "iso":
        return value.isoformat()
    return f"{value:%A} {value.day} {value:%B %Y}"


class Renderer:
    def __init__(self, dialect: Dialect, directory: Path = PROMPTS_DIR) -> None:
        self.dialect = dialect
        self.env = Environment(
            loader=FileSystemLoader(str(directory)),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
            finalize=self._finalize,
            auto_reload=False,  # templates are read once: no stat() of the file per message
        )
        self.env.filters["date"] = format_date
        self.env.filters["mention"] = self._mention
        self.env.filters["mentions"] = self._mentions
        self.env.filters["strong"] = self._strong
        self.env.filters["italic"] = self._italic
        self.env.filters["quote"] = self._quote
        self.env.filters["link"] = self._link
        self.env.globals["strong"] = self._strong
        self.env.globals["italic"] = self._italic
        self.env.globals["quote"] = self._quote
        self.env.globals["command"] = self._command
        self.env.globals["start_command"] = Rendered(dialect.start_command)
        self.env.globals["chat"] = dialect.chat
        self.env.globals["mentions_understood"] = dialect.mentions_understood

    def _inert(self, value: Any) -> str:
        if isinstance(value, Rendered):
            return value
        return self.dialect.escape(without_bidi(str(value)))

    def _finalize(self, value: Any) -> Any:
        return "" if value is None else self._inert(value)

    def _joined(self, parts: tuple[Any, ...]) -> str:
        return "".join(self._inert(part) for part in parts if part is not None)

    def _strong(self, *parts: Any) -> str:
        text = self._joined(parts)
        return Rendered(self.dialect.emphasis(text) if text else "")

    def _italic(self, *parts: Any) -> str:
        text = self._joined(parts)
        return Rendered(self.dialect.italic(text) if text else "")

    def _quote(self, *parts: Any) -> str:
        return Rendered(self.dialect.quote(self._joined(parts)))

    def _mention(self, person_id: str | None) -> str:
        if not person_id:
            return ""
        return Rendered(self.dialect.mention(without_bidi(person_id)))

    def _mentions(self, person_ids: list[str]) -> str:
        return Rendered(", ".join(self._mention(i) for i in person_ids))

    def _link(self, url: str | None, label: str = "") -> str:
        if not url:
            return Rendered(self._inert(label))
        return Rendered(self.dialect.link(without_bidi(url), self._inert(label)))

    def _command(self, *words: Any) -> str:
        typed = " ".join([self.dialect.start_command, *(str(w) for w in words if w)])
        return Rendered(self.dialect.command(self._inert(typed)))

    def render(self, template: str, **data: Any) -> str:
        try:
            compiled = self.env.get_template(template)
        except TemplateNotFound:
            raise LookupError(f"no template {template!r} under {PROMPTS_DIR}") from None
        return compiled.render(**data).strip()

    def compile_all(self, folders: tuple[str, ...]) -> int:
        """Compile the templates under ``folders`` now rather than at their first use."""
        names = [n for n in self.env.list_templates(extensions=["j2"]) if n.startswith(folders)]
        for name in names:
            self.env.get_template(name)
        return len(names)

    def message(self, message: Said, **extra: Any) -> str:
        return self.render(f"messages/{message.template}.j2", **message.data, **extra)


@cache
def renderer(dialect: Dialect) -> Renderer:
    """One compiled template set per dialect and process."""
    return Renderer(dialect)


def markdown_text(value: object) -> str:
    """Typed text made inert in Markdown: no headings, links, images, HTML, entities or
    emphasis, one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value)).replace("\r", " ").replace("\n", " ")


def local_time(value: datetime | str, zone: str) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}"


@cache
def export_renderer() -> Renderer:
    render = Renderer(MARKDOWN_FILE)
    render.env.filters["localtime"] = local_time
    return render


def export_markdown(export: CaseExport, *, timezone: str) -> str:
    """A case's export as Markdown for the case record (prompts/export/case.md.j2)."""
    markdown = export_renderer().render(
        "export/case.md.j2",
        case_ref=export.case_ref,
        exported_at=export.exported_at,
        timezone=timezone,
        reflections=export.reflections,
    )
    return markdown + "\n"
