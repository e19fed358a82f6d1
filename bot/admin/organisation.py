"""`reflect org load`: validate the whole organisation file, then replace it in one transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from bot.admin.yaml_lines import line_of, load_with_lines
from bot.clock.config import threshold_problems
from bot.protection.identifiers import DETECTORS
from bot.protection.identifiers import MODES as IDENTIFIER_MODES
from bot.reflection.questions import default_question_set
from storage import organisation as org_queries
from storage.db import SessionFactory, transaction
from storage.models import Agency, Person, SafeguardingLead

SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
AGENCY_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROLES = ("practitioner", "supervisor", "lead", "administrator")
AGENCY_KEYS = {
    "id",
    "name",
    "safeguarding_leads",
    "leads_see_summaries",
    "identifiers",
    "clock",
    "question_set",
    "procedure_url",
    "front_door",
    "monthly_report",
}
PERSON_KEYS = {"slack_id", "agency", "role", "supervisor", "email", "profession"}
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
    problems: list[Problem] = []
    for key in set(document) - {"agencies", "people"}:
        problems.append(Problem(line_of(document, key), shown(key), "unknown section"))

    _check_counts(document)
    agencies, leads = _agencies(document, problems)
    people = _people(document, {a.id for a in agencies}, problems)
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
        line = event.start_mark.line + 1
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                _refuse(line, "(file)", "a second YAML document starts here; keep to one")
        elif isinstance(event, yaml.NodeEvent):
            _check_node(event, line, levels)
        elif isinstance(event, yaml.CollectionEndEvent):
            levels.pop()
            _value_done(levels)


def _check_node(event: yaml.NodeEvent, line: int, levels: list[_Level]) -> None:
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


# ------------------------------------------------------------------ entries


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


def _list_section(document: dict[str, Any], name: str, problems: list[Problem]) -> list[Any]:
    section = document.get(name)
    if section is None:
        problems.append(Problem(line_of(document), name, "missing section"))
        return []
    if not isinstance(section, list):
        problems.append(Problem(line_of(document, name), name, "must be a list"))
        return []
    return section


def _text(entry: dict[str, Any], key: str, where: str, problems: list[Problem]) -> str | None:
    value = entry.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append(Problem(line_of(entry), f"{where}.{key}", "missing"))
        return None
    if not isinstance(value, str | int):
        problems.append(Problem(line_of(entry, key), f"{where}.{key}", "must be text"))
        return None
    return str(value).strip()


def _check_length(
    value: str | None,
    most: int,
    entry: dict[str, Any],
    key: str,
    where: str,
    problems: list[Problem],
) -> None:
    """A problem if ``value`` is longer than its column holds."""
    if value is not None and len(value) > most:
        problems.append(
            Problem(
                line_of(entry, key),
                f"{where}.{key}",
                f"at most {most} characters (this is {len(value):,})",
            )
        )


def _agencies(
    document: dict[str, Any], problems: list[Problem]
) -> tuple[list[Agency], list[SafeguardingLead]]:
    agencies: list[Agency] = []
    leads: list[SafeguardingLead] = []
    seen: set[str] = set()
    for index, entry in enumerate(_list_section(document, "agencies", problems)):
        where = f"agencies[{index}]"
        if not isinstance(entry, dict):
            problems.append(Problem(line_of(document, "agencies"), where, "must be a mapping"))
            continue
        for key in set(entry) - AGENCY_KEYS:
            problems.append(Problem(line_of(entry, key), f"{where}.{shown(key)}", "unknown field"))
        agency_id = _text(entry, "id", where, problems)
        name = _text(entry, "name", where, problems)
        _check_length(name, MAX_NAME_CHARS, entry, "name", where, problems)
        if agency_id is not None:
            if not AGENCY_ID.match(agency_id):
                problems.append(
                    Problem(
                        line_of(entry, "id"),
                        f"{where}.id",
                        "use lower-case letters, digits, - and _ (e.g. csc)",
                    )
                )
            elif agency_id in seen:
                problems.append(
                    Problem(line_of(entry, "id"), f"{where}.id", f"duplicate agency '{agency_id}'")
                )
            seen.add(agency_id)
        raw_leads = entry.get("safeguarding_leads") or []
        if not isinstance(raw_leads, list):
            problems.append(
                Problem(
                    line_of(entry, "safeguarding_leads"),
                    f"{where}.safeguarding_leads",
                    "must be a list of Slack user IDs",
                )
            )
            raw_leads = []
        for lead in raw_leads:
            if not isinstance(lead, str) or not SLACK_ID.match(lead):
                problems.append(
                    Problem(
                        line_of(entry, "safeguarding_leads"),
                        f"{where}.safeguarding_leads",
                        f"'{shown(lead)}' is not a Slack user ID (like U0123ABCD)",
                    )
                )
            elif agency_id:
                leads.append(SafeguardingLead(agency_id=agency_id, slack_id=lead))
        see = entry.get("leads_see_summaries", False)
        if not isinstance(see, bool):
            problems.append(
                Problem(
                    line_of(entry, "leads_see_summaries"),
                    f"{where}.leads_see_summaries",
                    "must be true or false",
                )
            )
        _check_flag(entry, "monthly_report", where, problems)
        _check_identifiers(entry, where, problems)
        _check_question_set(entry, "question_set", where, problems)
        _check_pattern(
            entry,
            "procedure_url",
            PROCEDURE_URL,
            "must be a web address (https://...)",
            where,
            problems,
        )
        _check_pattern(
            entry,
            "front_door",
            FRONT_DOOR,
            "must be a phone number, e.g. 0300 123 4567",
            where,
            problems,
        )
        if "clock" in entry:
            clock = entry["clock"]
            for field, reason in threshold_problems(clock):
                key = field.partition(".")[2]
                line = line_of(clock, key) if key and isinstance(clock, dict) else 0
                problems.append(
                    Problem(line or line_of(entry, "clock"), f"{where}.{field}", reason)
                )
        options = {k: v for k, v in entry.items() if k not in {"id", "name", "safeguarding_leads"}}
        if agency_id and name:
            agencies.append(Agency(id=agency_id, name=name, options=dict(options)))
    return agencies, leads


def _check_flag(entry: dict[str, Any], key: str, where: str, problems: list[Problem]) -> None:
    if key in entry and not isinstance(entry[key], bool):
        problems.append(Problem(line_of(entry, key), f"{where}.{key}", "must be true or false"))


def _check_question_set(
    entry: dict[str, Any], key: str, where: str, problems: list[Problem]
) -> None:
    """A profession or an agency's default names one of the question sets per role."""
    if key not in entry:
        return
    roles = default_question_set().roles
    if str(entry[key]) not in roles:
        problems.append(
            Problem(line_of(entry, key), f"{where}.{key}", f"must be one of {', '.join(roles)}")
        )


def _check_pattern(
    entry: dict[str, Any],
    key: str,
    pattern: re.Pattern[str],
    reason: str,
    where: str,
    problems: list[Problem],
) -> None:
    if key in entry and not pattern.match(str(entry[key])):
        problems.append(Problem(line_of(entry, key), f"{where}.{key}", reason))


def _check_identifiers(entry: dict[str, Any], where: str, problems: list[Problem]) -> None:
    """`identifiers: {mode: withhold|warn, detectors: [...]}`; both keys optional."""
    if "identifiers" not in entry:
        return
    chosen = entry["identifiers"]
    field = f"{where}.identifiers"
    if not isinstance(chosen, dict):
        problems.append(
            Problem(line_of(entry, "identifiers"), field, "must be a mapping with mode, detectors")
        )
        return
    for key in set(chosen) - {"mode", "detectors"}:
        problems.append(Problem(line_of(chosen, key), f"{field}.{shown(key)}", "unknown field"))
    if "mode" in chosen and chosen["mode"] not in IDENTIFIER_MODES:
        problems.append(
            Problem(
                line_of(chosen, "mode"),
                f"{field}.mode",
                f"must be one of {', '.join(IDENTIFIER_MODES)}",
            )
        )
    if "detectors" in chosen:
        detectors = chosen["detectors"]
        if not isinstance(detectors, list):
            problems.append(
                Problem(
                    line_of(chosen, "detectors"),
                    f"{field}.detectors",
                    f"must be a list drawn from {', '.join(DETECTORS)}",
                )
            )
            return
        for name in detectors:
            if name not in DETECTORS:
                problems.append(
                    Problem(
                        line_of(chosen, "detectors"),
                        f"{field}.detectors",
                        f"'{shown(name)}' is not a detector; choose from {', '.join(DETECTORS)}",
                    )
                )


def _people(
    document: dict[str, Any], agency_ids: set[str], problems: list[Problem]
) -> list[Person]:
    people: list[Person] = []
    entries = _list_section(document, "people", problems)
    listed = {str(e.get("slack_id")) for e in entries if isinstance(e, dict)}
    seen: set[str] = set()
    emails: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"people[{index}]"
        if not isinstance(entry, dict):
            problems.append(Problem(line_of(document, "people"), where, "must be a mapping"))
            continue
        for key in set(entry) - PERSON_KEYS:
            problems.append(Problem(line_of(entry, key), f"{where}.{shown(key)}", "unknown field"))
        slack_id = _text(entry, "slack_id", where, problems)
        agency = _text(entry, "agency", where, problems)
        role = _text(entry, "role", where, problems)
        if slack_id is not None:
            if not SLACK_ID.match(slack_id):
                problems.append(
                    Problem(
                        line_of(entry, "slack_id"),
                        f"{where}.slack_id",
                        f"'{shown(slack_id)}' is not a Slack user ID (like U0123ABCD)",
                    )
                )
            elif slack_id in seen:
                problems.append(
                    Problem(
                        line_of(entry, "slack_id"),
                        f"{where}.slack_id",
                        f"duplicate person '{slack_id}'",
                    )
                )
            seen.add(slack_id)
        if agency is not None and agency not in agency_ids:
            problems.append(
                Problem(
                    line_of(entry, "agency"), f"{where}.agency", f"unknown agency '{shown(agency)}'"
                )
            )
        if role is not None and role not in ROLES:
            problems.append(
                Problem(
                    line_of(entry, "role"), f"{where}.role", f"must be one of {', '.join(ROLES)}"
                )
            )
        supervisor = entry.get("supervisor")
        if supervisor is not None:
            supervisor = str(supervisor)
            if supervisor not in listed:
                problems.append(
                    Problem(
                        line_of(entry, "supervisor"),
                        f"{where}.supervisor",
                        f"'{shown(supervisor)}' is not listed under people",
                    )
                )
            elif supervisor == slack_id:
                problems.append(
                    Problem(
                        line_of(entry, "supervisor"),
                        f"{where}.supervisor",
                        "a person cannot supervise themselves",
                    )
                )
        _check_question_set(entry, "profession", where, problems)
        email = entry.get("email")
        if email is not None:
            email = str(email).strip().lower()
            _check_length(email, MAX_EMAIL_CHARS, entry, "email", where, problems)
            if not EMAIL.match(email):
                problems.append(
                    Problem(line_of(entry, "email"), f"{where}.email", "not an e-mail address")
                )
            elif email in emails:
                problems.append(
                    Problem(line_of(entry, "email"), f"{where}.email", "duplicate e-mail address")
                )
            emails.add(email)
        if slack_id and agency and role:
            people.append(
                Person(
                    slack_id=slack_id,
                    agency_id=agency,
                    role=role,
                    supervisor_id=supervisor,
                    email=email,
                    profession=str(entry["profession"]) if "profession" in entry else None,
                )
            )
    return people


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
