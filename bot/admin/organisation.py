"""`reflect org load`: validate the whole organisation file, then replace it in one transaction."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from bot.config.clock import LIMITS
from bot.identity import PLATFORMS, Platform, id_platform, teams_person_id
from bot.protection.identifiers import DETECTORS
from bot.protection.identifiers import MODES as IDENTIFIER_MODES
from bot.reflection.questions import default_question_set
from bot.yaml_lines import line_of, load_with_lines, locate
from storage import organisation as org_queries
from storage.db import SessionFactory, transaction
from storage.models import Agency, Person, SafeguardingLead

AGENCY_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROLES = ("practitioner", "supervisor", "lead", "administrator")
PROCEDURE_URL = re.compile(r"^https?://[^\s<>|]{3,300}$")
FRONT_DOOR = re.compile(r"^[0-9+() -]{3,30}$")

# Limits on what `reflect org load` reads. A real organisation file is far inside every one of
# them; they make a wrong or hostile file fail fast instead of filling memory or a column.
MEGABYTE = 1024 * 1024
MAX_FILE_BYTES = 4 * MEGABYTE  # 20,000 people with e-mail addresses take about 2 MB
MAX_NESTING = 10  # the deepest real entry is 5: agencies > agency > identifiers > detectors
MAX_VALUE_CHARS = 1_000  # any one key or value; longer is refused before it is built
MAX_AGENCIES = 1_000
MAX_PEOPLE = 20_000
MAX_NAME_CHARS = 200  # the agency.name column
MAX_EMAIL_CHARS = 320  # the person.email column
SHOWN_CHARS = 40  # how much of a value a message repeats back

# Control characters other than tab, line feed and carriage return: no text file has them.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Problem:
    line: int
    field: str
    reason: str


@dataclass(frozen=True)
class LoadResult:
    agencies: int
    people: int
    leads: int


class OrganisationFileError(ValueError):
    """Entries in the file are wrong; each problem names its line and field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"line {p.line}: {p.field}: {p.reason}" for p in problems))
        self.problems = problems


class UnreadableOrganisationFile(OrganisationFileError):
    """The file cannot be read as an organisation file at all: missing, too big, not UTF-8
    text, not YAML, or shaped as no organisation file is (aliases, tags, deep nesting)."""


class UnreadableText(ValueError):
    """A text file refused before it is parsed; ``line`` is 0 when no line is at fault."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.line = line
        self.reason = reason


def read_text_within(path: Path, limit: int) -> str:
    """The file as text, reading at most ``limit`` + 1 bytes: refuses one that is missing,
    bigger than ``limit``, not UTF-8, or holds control characters (e.g. NUL bytes)."""
    try:
        with path.open("rb") as file:
            raw = file.read(limit + 1)
    except FileNotFoundError:
        raise UnreadableText(0, "the file does not exist") from None
    except OSError as exc:
        raise UnreadableText(0, f"the file cannot be read ({exc.strerror})") from None
    if len(raw) > limit:
        raise UnreadableText(
            0,
            f"the file is larger than {limit // MEGABYTE} MB, the most allowed; "
            "is it the right file?",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UnreadableText(line, "not UTF-8 text; save the file as UTF-8") from None
    control = CONTROL_CHARACTER.search(text)
    if control:
        line = text.count("\n", 0, control.start()) + 1
        raise UnreadableText(
            line,
            f"a control character (U+{ord(control.group()):04X}) that text files do not have; "
            "is it the right file?",
        )
    return text


def shown(value: object) -> str:
    """A value as a message repeats it back: never more than SHOWN_CHARS characters."""
    text = str(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}…"


def parse_organisation(
    text: str,
) -> tuple[list[Agency], list[SafeguardingLead], list[Person]]:
    """Validate the file; raise OrganisationFileError listing every problem with its line."""
    try:
        check_shape(text)
        document = load_with_lines(text)
    except yaml.YAMLError as exc:
        raise UnreadableOrganisationFile([_yaml_problem(exc)]) from None
    if not isinstance(document, dict):
        _refuse(1, "(file)", f"expected a mapping with 'agencies' and 'people', {_found(document)}")
    _check_counts(document)
    problems = _Problems(document)
    agencies, leads, people = _check_entries(document, problems)
    if problems:
        raise OrganisationFileError(sorted(problems, key=lambda p: p.line))
    return agencies, leads, people


# ------------------------------------------------------------------ shape, before building

# libyaml when installed: the shape check then costs a fraction of the load that follows.
_PARSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = Resolver()
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


@dataclass
class _Level:
    """One open mapping or list while the file's events are read, for the field's name."""

    mapping: bool
    key: str | None = None  # in a mapping: the key whose value is being read
    index: int = -1  # in a list: the position of the item being read


def check_shape(text: str) -> None:
    """Refuse what no organisation file holds, from the parser's events and before any value is
    built: anchors and aliases (a few hundred bytes of them can expand to gigabytes), tags such
    as !!python/object, lists or mappings used as keys, nesting deeper than MAX_NESTING, values
    longer than MAX_VALUE_CHARS, dates that are not dates, and more than one document."""
    levels: list[_Level] = []
    documents = 0
    for event in yaml.parse(text, Loader=_PARSER):
        line = (event.start_mark.line if event.start_mark else 0) + 1
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                _refuse(line, "(file)", "a second YAML document starts here; keep to one")
        elif isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent | yaml.AliasEvent):
            _check_node(event, line, levels)
        elif isinstance(event, yaml.CollectionEndEvent):
            levels.pop()
            _value_done(levels)


def _check_node(
    event: yaml.ScalarEvent | yaml.CollectionStartEvent | yaml.AliasEvent,
    line: int,
    levels: list[_Level],
) -> None:
    parent = levels[-1] if levels else None
    is_key = parent is not None and parent.mapping and parent.key is None
    if parent is not None and not parent.mapping:
        parent.index += 1
    if isinstance(event, yaml.AliasEvent):
        _refuse(line, _field(levels), "aliases (*name) are not allowed; write the value out")
    if event.anchor is not None:
        _refuse(line, _field(levels), "anchors (&name) are not allowed; write the value out")
    if event.tag is not None:
        tag = shown(event.tag.replace("tag:yaml.org,2002:", "!!"))
        _refuse(line, _field(levels), f"tags such as {tag} are not allowed")
    if isinstance(event, yaml.ScalarEvent):
        _check_scalar(event, line, levels)
        if is_key:
            assert parent is not None
            parent.key = event.value
        else:
            _value_done(levels)
    elif is_key:
        _refuse(line, _field(levels), "a key must be a word, not a list or mapping")
    elif len(levels) >= MAX_NESTING:
        _refuse(line, _field(levels), f"nested more than {MAX_NESTING} levels deep")
    else:
        levels.append(_Level(mapping=isinstance(event, yaml.MappingStartEvent)))


def _check_scalar(event: yaml.ScalarEvent, line: int, levels: list[_Level]) -> None:
    if len(event.value) > MAX_VALUE_CHARS:
        _refuse(
            line,
            _field(levels),
            f"a value {len(event.value):,} characters long; "
            f"none may be longer than {MAX_VALUE_CHARS:,}",
        )
    plain = event.implicit[0]
    if plain and _RESOLVER.resolve(yaml.ScalarNode, event.value, (True, False)) == _TIMESTAMP:
        try:
            SafeConstructor().construct_yaml_timestamp(yaml.ScalarNode(_TIMESTAMP, event.value))
        except ValueError:
            _refuse(line, _field(levels), f"'{shown(event.value)}' is not a real date")


def _found(document: Any) -> str:
    if document is None:
        return "found nothing"
    return "found a list" if isinstance(document, list) else "found one value"


def _value_done(levels: list[_Level]) -> None:
    """A mapping's value is complete: what comes next in it is a key."""
    if levels and levels[-1].mapping:
        levels[-1].key = None


def _field(levels: list[_Level]) -> str:
    name = ""
    for level in levels:
        if level.mapping and level.key is not None:
            name += f".{shown(level.key)}" if name else shown(level.key)
        elif not level.mapping and level.index >= 0:
            name += f"[{level.index}]"
    return name or "(file)"


def _yaml_problem(exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark else 0
    # A reader error (a character YAML refuses) has a reason but no problem.
    reason = getattr(exc, "problem", None) or getattr(exc, "reason", None) or "not valid YAML"
    return Problem(line, "(file)", f"not valid YAML: {reason}")


def _refuse(line: int, field: str, reason: str) -> NoReturn:
    raise UnreadableOrganisationFile([Problem(line, field, reason)])


# ------------------------------------------------------------------ entries, as pydantic models


# An entry's check that fails says why in the file's terms; the whole reason is the message.
def _refusal(reason: str) -> PydanticCustomError:
    return PydanticCustomError("organisation", "{reason}", {"reason": reason})


def _text(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _refusal("missing")
    if not isinstance(value, str | int):
        raise _refusal("must be text")
    return str(value).strip()


def _within(most: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > most:
            raise _refusal(f"at most {most} characters (this is {len(value):,})")
        return value

    return check


def _agency_id(value: str) -> str:
    if not AGENCY_ID.match(value):
        raise _refusal("use lower-case letters, digits, - and _ (e.g. csc)")
    return value


def _slack_id(value: str) -> str:
    if id_platform(value) != "slack":
        raise _refusal(f"'{shown(value)}' is not a Slack user ID (like U0123ABCD)")
    return value


def _teams_id(value: str) -> str:
    person_id = teams_person_id(value)
    if id_platform(person_id) != "teams":
        raise _refusal(
            f"'{shown(value)}' is not a Microsoft Entra object ID "
            "(like 3f2504e0-4f89-41d3-9a0c-0305e82c3301)"
        )
    return person_id


def _person_id(value: str) -> str:
    """Anyone's ID, on either platform (a lead, a supervisor)."""
    person_id = teams_person_id(value) if "-" in value else value
    if id_platform(person_id) is None:
        raise _refusal(
            f"'{shown(value)}' is not a Slack user ID (like U0123ABCD) or a Microsoft Entra "
            "object ID (like 3f2504e0-4f89-41d3-9a0c-0305e82c3301)"
        )
    return person_id


def _platform(value: Any) -> Any:
    if value not in PLATFORMS:
        raise _refusal(f"must be one of {', '.join(PLATFORMS)}")
    return value


def _role(value: str) -> str:
    if value not in ROLES:
        raise _refusal(f"must be one of {', '.join(ROLES)}")
    return value


def _question_set(value: Any) -> Any:
    """A profession or an agency's default names one of the question sets per role."""
    roles = default_question_set().roles
    if str(value) not in roles:
        raise _refusal(f"must be one of {', '.join(roles)}")
    return str(value)


def _matching(pattern: re.Pattern[str], reason: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not pattern.match(str(value)):
            raise _refusal(reason)
        return str(value)

    return check


def _email(value: Any) -> Any:
    email = str(value).strip().lower()
    _within(MAX_EMAIL_CHARS)(email)
    if not EMAIL.match(email):
        raise _refusal("not an e-mail address")
    return email


def _true_or_false(value: Any) -> Any:
    if not isinstance(value, bool):
        raise _refusal("must be true or false")
    return value


def _list(reason: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            raise _refusal(reason)
        return value

    return check


def _mapping(reason: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _refusal(reason)
        return value

    return check


def _whole_number(low: int, high: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _refusal(f"must be a whole number from {low} to {high}")
        return value

    return check


def _detector(value: Any) -> Any:
    if value not in DETECTORS:
        raise _refusal(f"'{shown(value)}' is not a detector; choose from {', '.join(DETECTORS)}")
    return value


def _mode(value: Any) -> Any:
    if value not in IDENTIFIER_MODES:
        raise _refusal(f"must be one of {', '.join(IDENTIFIER_MODES)}")
    return value


Text = Annotated[str, BeforeValidator(_text)]
AgencyId = Annotated[Text, AfterValidator(_agency_id)]
PersonId = Annotated[Text, AfterValidator(_person_id)]
SlackId = Annotated[Text, AfterValidator(_slack_id)]
TeamsId = Annotated[Text, AfterValidator(_teams_id)]
QuestionSetName = Annotated[str | None, BeforeValidator(_question_set)]


def _threshold(name: str) -> BeforeValidator:
    return BeforeValidator(_whole_number(*LIMITS[name]))


class AgencyClock(BaseModel):
    """An agency's own clock thresholds (`clock:`), within the deployment-wide limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    long_open_days: Annotated[int | None, _threshold("long_open_days")] = None
    long_open_repeat_days: Annotated[int | None, _threshold("long_open_repeat_days")] = None
    unfinished_hours: Annotated[int | None, _threshold("unfinished_hours")] = None
    lead_followup_working_days: Annotated[int | None, _threshold("lead_followup_working_days")] = (
        None
    )


class IdentifierChoice(BaseModel):
    """`identifiers: {mode: withhold|warn, detectors: [...]}`; both keys optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Annotated[str | None, BeforeValidator(_mode)] = None
    detectors: Annotated[
        list[Annotated[str, BeforeValidator(_detector)]] | None,
        BeforeValidator(_list(f"must be a list drawn from {', '.join(DETECTORS)}")),
    ] = None


class AgencyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: AgencyId
    name: Annotated[Text, AfterValidator(_within(MAX_NAME_CHARS))]
    safeguarding_leads: Annotated[
        list[PersonId],
        BeforeValidator(_list("must be a list of Slack user IDs or Entra object IDs")),
    ] = []
    leads_see_summaries: Annotated[bool, BeforeValidator(_true_or_false)] = False
    identifiers: Annotated[
        IdentifierChoice | None, BeforeValidator(_mapping("must be a mapping with mode, detectors"))
    ] = None
    clock: Annotated[
        AgencyClock | None, BeforeValidator(_mapping("must be a mapping, e.g. long_open_days: 60"))
    ] = None
    question_set: QuestionSetName = None
    procedure_url: Annotated[
        str | None, BeforeValidator(_matching(PROCEDURE_URL, "must be a web address (https://...)"))
    ] = None
    front_door: Annotated[
        str | None,
        BeforeValidator(_matching(FRONT_DOOR, "must be a phone number, e.g. 0300 123 4567")),
    ] = None
    # false: the clock does not send this agency's leads the monthly partnership report.
    monthly_report: Annotated[bool, BeforeValidator(_true_or_false)] = True

    def options(self) -> dict[str, Any]:
        """What the agency's row keeps besides its name: only what the file sets."""
        return self.model_dump(exclude_unset=True, exclude={"id", "name", "safeguarding_leads"})


class PersonEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # A person's ID on each platform they use (files already written say slack_id); the one
    # they are reached on is stored as Person.person_id (``person_id``).
    slack_id: SlackId | None = None
    teams_id: TeamsId | None = None
    agency: Text
    role: Annotated[Text, AfterValidator(_role)]
    supervisor: Annotated[str | None, BeforeValidator(str)] = None
    email: Annotated[str | None, BeforeValidator(_email)] = None
    profession: QuestionSetName = None

    @model_validator(mode="after")
    def _named(self) -> PersonEntry:
        if self.slack_id is None and self.teams_id is None:
            raise _refusal("give slack_id or teams_id")
        return self

    def person_id(self, platform: Platform) -> str:
        """The ID they are reached on: ``platform`` (the file's) when both are named."""
        if self.slack_id is not None and self.teams_id is not None:
            return self.teams_id if platform == "teams" else self.slack_id
        return self.slack_id or self.teams_id or ""

    def ids(self) -> set[str]:
        return {i for i in (self.slack_id, self.teams_id) if i is not None}


def _reason(error: ErrorDetails, loc: tuple[str | int, ...]) -> str:
    """What is wrong at ``loc`` in the file, in the file's terms, for pydantic's own errors."""
    kind = error["type"]
    if kind == "missing":
        return "missing section" if len(loc) == 1 else "missing"
    if kind == "extra_forbidden":
        if len(loc) == 1:
            return "unknown section"
        if loc[-2] == "clock":
            return f"unknown setting; use {', '.join(LIMITS)}"
        return "unknown field"
    if kind in {"model_type", "dict_type"}:
        return "must be a mapping"
    if kind == "list_type":
        return "must be a list"
    return error["msg"]


class _Problems(list[Problem]):
    """Problems found in one document, each placed by its location in it."""

    def __init__(self, document: Any) -> None:
        super().__init__()
        self.document = document

    def add(self, loc: tuple[str | int, ...], reason: str) -> None:
        line, field = locate(self.document, loc, label=shown)
        self.append(Problem(line, field or "(file)", reason))

    def add_errors(self, prefix: tuple[str | int, ...], error: ValidationError) -> None:
        for detail in error.errors():
            loc = (*prefix, *detail["loc"])
            self.add(loc, _reason(detail, loc))


Entry = TypeVar("Entry", bound=BaseModel)


class _Sections(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agencies: list[Any]
    people: list[Any]
    # Where someone named with both slack_id and teams_id is reached: Slack unless it says.
    platform: Annotated[Platform, BeforeValidator(_platform)] = "slack"


def _entries(
    model: type[Entry], section: str, document: dict[str, Any], problems: _Problems
) -> list[tuple[int, Entry]]:
    """Each entry of the section that is right by itself, with its position."""
    good: list[tuple[int, Entry]] = []
    entries = document.get(section)
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        try:
            good.append((index, model.model_validate(entry)))
        except ValidationError as error:
            problems.add_errors((section, index), error)
    return good


def _check_entries(
    document: dict[str, Any], problems: _Problems
) -> tuple[list[Agency], list[SafeguardingLead], list[Person]]:
    platform: Platform = "slack"
    try:
        platform = _Sections.model_validate(document).platform
    except ValidationError as error:
        problems.add_errors((), error)
    agencies = _entries(AgencyEntry, "agencies", document, problems)
    people = _entries(PersonEntry, "people", document, problems)
    reached = _reached_on(people, platform)
    return (
        _agencies(agencies, problems),
        _leads(agencies, reached),
        _people(people, reached, platform, document, problems),
    )


def _reached_on(people: list[tuple[int, PersonEntry]], platform: Platform) -> dict[str, str]:
    """Each ID the file gives a person, to the one they are reached on: a supervisor or a lead
    may be named by either of their IDs."""
    return {i: p.person_id(platform) for _, p in people for i in p.ids()}


def _agencies(entries: list[tuple[int, AgencyEntry]], problems: _Problems) -> list[Agency]:
    seen: set[str] = set()
    for index, entry in entries:
        if entry.id in seen:
            problems.add(("agencies", index, "id"), f"duplicate agency '{entry.id}'")
        seen.add(entry.id)
    return [Agency(id=e.id, name=e.name, options=e.options()) for _, e in entries]


def _leads(
    entries: list[tuple[int, AgencyEntry]], reached: dict[str, str]
) -> list[SafeguardingLead]:
    named = {
        (entry.id, reached.get(lead, lead)): None
        for _, entry in entries
        for lead in entry.safeguarding_leads
    }
    return [SafeguardingLead(agency_id=agency, person_id=lead) for agency, lead in named]


def _raw(document: dict[str, Any], section: str, key: str) -> set[str]:
    """A key's values across a section as written, right or wrong: what a cross-reference may
    name without a second complaint about the same entry."""
    entries = document.get(section)
    if not isinstance(entries, list):
        return set()
    return {str(entry.get(key)).strip() for entry in entries if isinstance(entry, dict)}


def _people(
    entries: list[tuple[int, PersonEntry]],
    reached: dict[str, str],
    platform: Platform,
    document: dict[str, Any],
    problems: _Problems,
) -> list[Person]:
    agency_ids = _raw(document, "agencies", "id")
    listed = _raw(document, "people", "slack_id") | {
        teams_person_id(i) for i in _raw(document, "people", "teams_id")
    }
    seen: set[str] = set()
    emails: set[str] = set()
    for index, person in entries:
        where = ("people", index)
        for key, value in (("slack_id", person.slack_id), ("teams_id", person.teams_id)):
            if value is not None and value in seen:
                problems.add((*where, key), f"duplicate person '{value}'")
        seen |= person.ids()
        supervisor = (
            teams_person_id(person.supervisor)
            if person.supervisor is not None and "-" in person.supervisor
            else person.supervisor
        )
        if person.agency not in agency_ids:
            problems.add((*where, "agency"), f"unknown agency '{shown(person.agency)}'")
        if supervisor is not None and supervisor not in listed:
            problems.add(
                (*where, "supervisor"), f"'{shown(person.supervisor)}' is not listed under people"
            )
        elif supervisor in person.ids():
            problems.add((*where, "supervisor"), "a person cannot supervise themselves")
        if person.email is not None and person.email in emails:
            problems.add((*where, "email"), "duplicate e-mail address")
        if person.email is not None:
            emails.add(person.email)
    return [
        Person(
            person_id=p.person_id(platform),
            agency_id=p.agency,
            role=p.role,
            supervisor_id=_supervisor_id(p.supervisor, reached),
            email=p.email,
            profession=p.profession,
        )
        for _, p in entries
    ]


def _supervisor_id(named: str | None, reached: dict[str, str]) -> str | None:
    if named is None:
        return None
    return reached.get(teams_person_id(named) if "-" in named else named, named)


def _check_counts(document: dict[str, Any]) -> None:
    for section, most in (("agencies", MAX_AGENCIES), ("people", MAX_PEOPLE)):
        entries = document.get(section)
        if isinstance(entries, list) and len(entries) > most:
            raise UnreadableOrganisationFile(
                [
                    Problem(
                        line_of(document, section),
                        section,
                        f"{len(entries):,} entries; an organisation file may list at most {most:,}",
                    )
                ]
            )


def load_organisation(path: Path, new_session: SessionFactory) -> LoadResult:
    try:
        text = read_text_within(path, MAX_FILE_BYTES)
    except UnreadableText as exc:
        raise UnreadableOrganisationFile([Problem(exc.line, "(file)", exc.reason)]) from None
    agencies, leads, people = parse_organisation(text)
    with transaction(new_session) as session:
        org_queries.replace_organisation(
            session=session, agencies=agencies, leads=leads, people=people
        )
    return LoadResult(agencies=len(agencies), people=len(people), leads=len(leads))
