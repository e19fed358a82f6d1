"""`reflect org load`: validate the whole organisation file, then replace it in one transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.admin.yaml_lines import line_of, load_with_lines
from bot.clock.config import threshold_problems
from bot.protection.identifiers import DETECTORS
from bot.protection.identifiers import MODES as IDENTIFIER_MODES
from storage import organisation as org_queries
from storage.db import SessionFactory, transaction
from storage.models import Agency, Person, SafeguardingLead

SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
AGENCY_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROLES = ("practitioner", "supervisor", "lead", "administrator")
AGENCY_KEYS = {"id", "name", "safeguarding_leads", "leads_see_summaries", "identifiers", "clock"}
PERSON_KEYS = {"slack_id", "agency", "role", "supervisor", "email"}


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
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"line {p.line}: {p.field}: {p.reason}" for p in problems))
        self.problems = problems


def parse_organisation(
    text: str,
) -> tuple[list[Agency], list[SafeguardingLead], list[Person]]:
    """Validate the file; raise OrganisationFileError listing every problem with its line."""
    try:
        document = load_with_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        reason = getattr(exc, "problem", None) or "not valid YAML"
        raise OrganisationFileError(
            [Problem(line, "(file)", f"not valid YAML: {reason}")]
        ) from None
    problems: list[Problem] = []
    if not isinstance(document, dict):
        raise OrganisationFileError(
            [Problem(1, "(file)", "expected a mapping with 'agencies' and 'people'")]
        )
    for key in set(document) - {"agencies", "people"}:
        problems.append(Problem(line_of(document, key), key, "unknown section"))

    agencies, leads = _agencies(document, problems)
    people = _people(document, {a.id for a in agencies}, problems)
    if problems:
        raise OrganisationFileError(sorted(problems, key=lambda p: p.line))
    return agencies, leads, people


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
            problems.append(Problem(line_of(entry, key), f"{where}.{key}", "unknown field"))
        agency_id = _text(entry, "id", where, problems)
        name = _text(entry, "name", where, problems)
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
                        f"'{lead}' is not a Slack user ID (like U0123ABCD)",
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
        _check_identifiers(entry, where, problems)
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
        problems.append(Problem(line_of(chosen, key), f"{field}.{key}", "unknown field"))
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
                        f"'{name}' is not a detector; choose from {', '.join(DETECTORS)}",
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
            problems.append(Problem(line_of(entry, key), f"{where}.{key}", "unknown field"))
        slack_id = _text(entry, "slack_id", where, problems)
        agency = _text(entry, "agency", where, problems)
        role = _text(entry, "role", where, problems)
        if slack_id is not None:
            if not SLACK_ID.match(slack_id):
                problems.append(
                    Problem(
                        line_of(entry, "slack_id"),
                        f"{where}.slack_id",
                        f"'{slack_id}' is not a Slack user ID (like U0123ABCD)",
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
                Problem(line_of(entry, "agency"), f"{where}.agency", f"unknown agency '{agency}'")
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
                        f"'{supervisor}' is not listed under people",
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
        email = entry.get("email")
        if email is not None:
            email = str(email).strip().lower()
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
                )
            )
    return people


def load_organisation(path: Path, new_session: SessionFactory) -> LoadResult:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise OrganisationFileError([Problem(0, "(file)", "not UTF-8 text")]) from None
    agencies, leads, people = parse_organisation(text)
    with transaction(new_session) as session:
        org_queries.replace_organisation(
            session=session, agencies=agencies, leads=leads, people=people
        )
    return LoadResult(agencies=len(agencies), people=len(people), leads=len(leads))
