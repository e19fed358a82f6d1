"""Renders the service's messages through the Jinja2 templates in prompts/.

Three modes: ``slack`` escapes every interpolated value (so no answer can ping a channel or mention
anyone) and keeps Slack's mrkdwn; ``plain`` is for the terminal and drops the mrkdwn markers;
``markdown`` is plain with every interpolated value made inert Markdown (the case export). In every
mode a value is shown without bidirectional controls (bot/protection/invisible.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from jinja2 import BaseLoader, Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from bot.identity import is_person_id
from bot.protection.invisible import without_bidi
from bot.reflection.messages import Said

if TYPE_CHECKING:
    from bot.casework.records import CaseExport

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"
Mode = Literal["plain", "slack", "markdown"]

_BOLD = re.compile(r"\*([^*\n]+)\*")
_ITALIC = re.compile(r"(?<![\w{])_([^_\n]+)_(?!\w)")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_<>#|\[\]!~&]|(?<=\])\()")


class SlackMarkup(str):
    """Text already safe for Slack (a mention we built ourselves); passed through unescaped."""


def escape_slack(text: str) -> str:
    """Slack's three control characters; with them escaped no text can form <!channel> or <@U>."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _PlainLoader(BaseLoader):
    """Loads templates with Slack's *bold* and _italic_ markers removed from the static text."""

    def __init__(self, inner: FileSystemLoader) -> None:
        self.inner = inner

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.inner.get_source(environment, template)
        return _ITALIC.sub(r"\1", _BOLD.sub(r"\1", source)), filename, uptodate

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


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
    def __init__(self, mode: Mode = "plain", directory: Path = PROMPTS_DIR) -> None:
        self.mode = mode
        files = FileSystemLoader(str(directory))
        self.env = Environment(
            loader=files if mode == "slack" else _PlainLoader(files),
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
        self.env.globals["mode"] = mode

    def _finalize(self, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, SlackMarkup):
            return value
        text = without_bidi(str(value))
        if self.mode == "slack":
            return escape_slack(text)
        if self.mode == "markdown":
            return markdown_text(text)
        return text

    def _mention(self, person_id: str | None) -> str:
        if not person_id:
            return ""
        if self.mode == "plain":
            return person_id
        if is_person_id(person_id):
            return SlackMarkup(f"<@{person_id}>")
        return SlackMarkup(escape_slack(person_id))

    def _mentions(self, person_ids: list[str]) -> str:
        joined = ", ".join(self._mention(i) for i in person_ids)
        return SlackMarkup(joined) if self.mode == "slack" else joined

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
def renderer(mode: Mode = "plain") -> Renderer:
    """One compiled template set per mode and process."""
    return Renderer(mode)


def markdown_text(value: object) -> str:
    """Typed text made inert in Markdown: no headings, links, images, HTML, entities or
    emphasis, one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value)).replace("\r", " ").replace("\n", " ")


def local_time(value: datetime | str, zone: str) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}"


@cache
def export_renderer() -> Renderer:
    render = Renderer("markdown")
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
