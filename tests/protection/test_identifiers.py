"""The identifier guard: each detector catches valid identifiers written in varied ways, and
ordinary case text passes untouched. Property tests generate invented identifiers only."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.admin.organisation import OrganisationFileError, parse_organisation
from bot.protection.identifiers import (
    DETECTORS,
    IdentifierGuard,
    nhs_check_digit_ok,
    wording,
)
from bot.requests import Requests
from storage.db import SessionFactory
from storage.models import Answer
from tests.protection.conftest import PRACTITIONER, load_org

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
guard = IdentifierGuard()
DEFAULTS: dict[str, object] = {}

WORDS = (
    "mum",
    "dad",
    "child",
    "school",
    "visit",
    "nursery",
    "said",
    "seemed",
    "worried",
    "tired",
    "hungry",
    "home",
    "health",
    "visitor",
    "GP",
    "referral",
    "plan",
    "week",
    "today",
    "tomorrow",
    "sister",
    "brother",
    "agency",
    "police",
    "the",
    "a",
    "and",
    "but",
    "with",
    "at",
    "on",
    "in",
    "for",
    "to",
    "of",
    "was",
    "is",
    "were",
    "not",
    "never",
    "always",
    "again",
)


def sentence() -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(WORDS), min_size=0, max_size=8).map(" ".join)


def embedded(identifier: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, str]]:
    """(whole text, the identifier) with ordinary words and punctuation around it."""
    return st.tuples(
        sentence(),
        st.sampled_from([" ", ": ", " (", "\n", " - "]),
        identifier,
        st.sampled_from(["", ".", ",", ")", "!\n"]),
        sentence(),
    ).map(lambda t: (f"{t[0]}{t[1]}{t[2]}{t[3]} {t[4]}", t[2]))


def assert_withheld(text: str, identifier: str, kind: str) -> None:
    screened = guard.screen(text, options=DEFAULTS)
    assert identifier not in screened.text
    assert wording()[kind].described in screened.withheld
    assert wording()[kind].marker in screened.text
    assert screened.warned == ()


# ------------------------------------------------------------------ NHS numbers


@st.composite
def nhs_numbers(draw: st.DrawFn) -> str:
    first_nine = draw(st.lists(st.integers(0, 9), min_size=9, max_size=9))
    total = sum(d * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    assume(check != 10)
    digits = "".join(map(str, first_nine)) + str(check)
    separator = draw(st.sampled_from(["", " ", "-", "  ", " - ", "\u00a0"]))
    return f"{digits[:3]}{separator}{digits[3:6]}{separator}{digits[6:]}"


@pytest.mark.parametrize(
    "text", ["NHS no.943 476 5919", "NHS:9434765919", "(943-476-5919)", "nhs number 943 476 5919."]
)
def test_nhs_numbers_after_punctuation(text: str) -> None:
    assert guard.screen(text, options=DEFAULTS).withheld == ("an NHS number",)


@pytest.mark.parametrize("text", ["£9434765919", "1,943,476,5919", "CP/9434765919", "x9434765919"])
def test_nhs_shaped_digits_inside_amounts_and_references_are_left(text: str) -> None:
    assert guard.screen(text, options={"identifiers": {"detectors": ["nhs_number"]}}).text == text


def test_nhs_check_digit() -> None:
    assert nhs_check_digit_ok("9434765919")
    assert not nhs_check_digit_ok("9434765918")
    assert not nhs_check_digit_ok("943476591")


@PROPERTY
@given(embedded(nhs_numbers()))
def test_nhs_numbers_are_withheld(case: tuple[str, str]) -> None:
    assert_withheld(*case, "nhs_number")


@PROPERTY
@given(st.text("0123456789", min_size=10, max_size=10))
def test_ten_digits_failing_the_check_are_not_nhs_numbers(digits: str) -> None:
    assume(not nhs_check_digit_ok(digits))
    screened = guard.screen(
        f"ref {digits} noted", options={"identifiers": {"detectors": ["nhs_number"]}}
    )
    assert screened.withheld == ()


# ------------------------------------------------------------------ NI numbers

NI_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
NI_SECOND = "ABCEGHJKLMNPRSTWXYZ"


@st.composite
def ni_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(NI_FIRST)) + draw(st.sampled_from(NI_SECOND))
    assume(prefix not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
    pairs = [f"{draw(st.integers(0, 99)):02d}" for _ in range(3)]
    space = draw(st.sampled_from(["", " "]))
    number = space.join([prefix, *pairs, draw(st.sampled_from("ABCD"))])
    return number.lower() if draw(st.booleans()) else number


@PROPERTY
@given(embedded(ni_numbers()))
def test_ni_numbers_are_withheld(case: tuple[str, str]) -> None:
    assert_withheld(*case, "ni_number")


@pytest.mark.parametrize(
    "text",
    ["GB 12 34 56 A", "QQ123456C", "AD123456B", "AB123456E", "NT 12 34 56 D", "ZZ123456A"],
)
def test_ni_rules_refuse_what_hmrc_never_allocates(text: str) -> None:
    screened = guard.screen(text, options={"identifiers": {"detectors": ["ni_number"]}})
    assert screened.withheld == ()


# ------------------------------------------------------------------ postcodes

AREA_FIRST = "ABCDEFGHIJKLMNOPRSTUWYZ"
AREA_SECOND = "ABCDEFGHKLMNOPQRSTUVWXY"
INWARD = "ABDEFGHJLNPQRSTUWXYZ"


@st.composite
def postcodes(draw: st.DrawFn) -> str:
    digit = st.integers(0, 9).map(str)
    shape = draw(st.sampled_from(["A9", "A99", "AA9", "AA99", "A9A", "AA9A", "GIR"]))
    if shape == "GIR":
        outward, inward = "GIR", "0AA"
    else:
        first = draw(st.sampled_from(AREA_FIRST))
        outward = {
            "A9": first + draw(digit),
            "A99": first + draw(digit) + draw(digit),
            "AA9": first + draw(st.sampled_from(AREA_SECOND)) + draw(digit),
            "AA99": first + draw(st.sampled_from(AREA_SECOND)) + draw(digit) + draw(digit),
            "A9A": first + draw(digit) + draw(st.sampled_from("ABCDEFGHJKPSTUW")),
            "AA9A": first
            + draw(st.sampled_from(AREA_SECOND))
            + draw(digit)
            + draw(st.sampled_from("ABEHMNPRVWXY")),
        }[shape]
        inward = draw(digit) + draw(st.sampled_from(INWARD)) + draw(st.sampled_from(INWARD))
    code = outward + draw(st.sampled_from(["", " "])) + inward
    return code.lower() if draw(st.booleans()) else code


@PROPERTY
@given(embedded(postcodes()))
def test_postcodes_are_withheld(case: tuple[str, str]) -> None:
    assert_withheld(*case, "postcode")


# ------------------------------------------------------------------ phone numbers

PHONE_SHAPES = ["020 7{3} {4}", "0161 {3} {4}", "0117 {3} {4}", "07{3} {6}", "01632 {6}"]


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from(PHONE_SHAPES))
    number = shape
    for size in (3, 4, 6):
        while f"{{{size}}}" in number:
            digits = "".join(str(draw(st.integers(0, 9))) for _ in range(size))
            number = number.replace(f"{{{size}}}", digits, 1)
    assume(phonenumbers.is_valid_number(phonenumbers.parse(number, "GB")))
    style = draw(st.sampled_from(["as is", "compact", "international", "brackets"]))
    if style == "compact":
        return number.replace(" ", "")
    if style == "international":
        return "+44 " + number[1:]
    if style == "brackets":
        area, _, rest = number.partition(" ")
        return f"({area}) {rest}"
    return number


@PROPERTY
@given(embedded(phone_numbers()))
def test_phone_numbers_are_withheld(case: tuple[str, str]) -> None:
    assert_withheld(*case, "phone")


# ------------------------------------------------------------------ e-mail addresses

LOCAL = st.from_regex(r"[a-z0-9]([a-z0-9._+-]{0,10}[a-z0-9])?", fullmatch=True)
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@st.composite
def emails(draw: st.DrawFn) -> str:
    local = draw(LOCAL)
    assume(".." not in local)
    labels = draw(st.lists(LABEL, min_size=1, max_size=3))
    tld = draw(st.sampled_from(["uk", "com", "org", "gov.uk", "nhs.net", "co.uk"]))
    return f"{local}@{'.'.join(labels)}.{tld}"


@PROPERTY
@given(embedded(emails()))
def test_email_addresses_are_withheld(case: tuple[str, str]) -> None:
    assert_withheld(*case, "email")


# ------------------------------------------------------------------ dates of birth

MONTHS = ["January", "March", "May", "June", "Sept", "Oct", "December", "feb", "Aug"]
CUES = ["DOB", "DOB:", "D.O.B.", "dob", "date of birth:", "Date of birth", "born on", "born",
        "was born on the", "birthday is"]  # fmt: skip


@st.composite
def dates_of_birth(draw: st.DrawFn) -> tuple[str, str]:
    day, month, year = (
        draw(st.integers(1, 28)),
        draw(st.integers(1, 12)),
        draw(st.integers(2005, 2026)),
    )
    style = draw(st.sampled_from(["slash", "short", "dots", "words", "ordinal", "us", "iso"]))
    written = {
        "slash": f"{day:02d}/{month:02d}/{year}",
        "short": f"{day}/{month}/{year % 100:02d}",
        "dots": f"{day}.{month}.{year}",
        "words": f"{day} {draw(st.sampled_from(MONTHS))} {year}",
        "ordinal": f"{day}th of {draw(st.sampled_from(MONTHS))} {year}",
        "us": f"{draw(st.sampled_from(MONTHS))} {day}, {year}",
        "iso": f"{year}-{month:02d}-{day:02d}",
    }[style]
    return f"{draw(st.sampled_from(CUES))} {written}", written


@PROPERTY
@given(sentence(), dates_of_birth(), sentence())
def test_dates_of_birth_are_withheld(before: str, given_as: tuple[str, str], after: str) -> None:
    phrase, written = given_as
    text = f"{before} {phrase}. {after}"
    screened = guard.screen(text, options=DEFAULTS)
    assert written not in screened.text
    assert wording()["date_of_birth"].described in screened.withheld


# ------------------------------------------------------------------ ordinary case text


@st.composite
def ordinary_fragment(draw: st.DrawFn) -> str:
    n = draw(st.integers(0, 99))
    day, month, year = (
        draw(st.integers(1, 28)),
        draw(st.integers(1, 12)),
        draw(st.integers(2020, 2030)),
    )
    return draw(
        st.sampled_from(
            [
                f"visit on {day:02d}/{month:02d}/{year}",
                f"seen {day}/{month}/{year}",
                f"on {year}-{month:02d}-{day:02d}",
                f"aged {n % 18}",
                f"{n % 18} years old",
                f"at {draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}",
                f"about {draw(st.integers(1, 12))}pm",
                f"case CSC-{draw(st.integers(1000, 99999))}",
                f"ref CP/{year}/{draw(st.integers(0, 9999)):04d}",
                f"£{draw(st.integers(0, 9999))}.{draw(st.integers(0, 99)):02d}",
                f"£{draw(st.integers(0, 99999))}",
                f"{n} children",
                f"{n} visits in {draw(st.integers(1, 52))} weeks",
                f"{draw(st.integers(1, 10))} out of {draw(st.integers(10, 20))}",
                f"{draw(st.integers(50, 100))}% attendance",
                f"room {draw(st.integers(1, 400))}",
                f"Year {draw(st.integers(1, 13))}",
            ]
        )
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(ordinary_fragment(), sentence()), min_size=1, max_size=8))
def test_ordinary_case_text_is_left_alone(fragments: list[str]) -> None:
    text = ". ".join(fragments)
    screened = guard.screen(text, options=DEFAULTS)
    assert screened.text == text
    assert screened.withheld == ()


# ------------------------------------------------------------------ configuration


def test_warn_mode_keeps_the_text_and_reports() -> None:
    text = "NHS 943 476 5919, BS7 1AA"
    screened = guard.screen(text, options={"identifiers": {"mode": "warn"}})
    assert screened.text == text
    assert screened.withheld == ()
    assert set(screened.warned) == {"an NHS number", "a postcode"}


def test_only_chosen_detectors_run() -> None:
    screened = guard.screen(
        "NHS 943 476 5919, BS7 1AA", options={"identifiers": {"detectors": ["postcode"]}}
    )
    assert "943 476 5919" in screened.text
    assert "BS7 1AA" not in screened.text


def test_the_service_withholds_by_default_and_stores_only_the_marked_text(
    service: Requests, new_session: SessionFactory
) -> None:
    service.start(practitioner_id=PRACTITIONER, case_ref="CSC-1001")
    reply = service.respond(
        practitioner_id=PRACTITIONER,
        text="Mum (DOB 01/02/1990) gave 07911 123456 and jo@example.org; NI AB123456C",
    )
    told = [m for m in reply.messages if m.template == "identifiers_withheld"]
    assert told and set(told[0].data["kinds"]) == {
        "a National Insurance number",
        "a phone number",
        "an e-mail address",
        "a date of birth",
    }
    with new_session() as session:
        stored = session.exec(select(Answer.value)).one()
    assert stored is not None
    for identifier in ("01/02/1990", "07911 123456", "jo@example.org", "AB123456C"):
        assert identifier not in stored
    assert stored.startswith("Mum (DOB [date of birth removed])")


def test_an_agency_on_warn_keeps_the_answer_and_tells_the_practitioner(
    service: Requests, new_session: SessionFactory
) -> None:
    load_org(new_session, extra="    identifiers: {mode: warn, detectors: [postcode]}\n")
    service.start(practitioner_id=PRACTITIONER, case_ref="CSC-1001")
    reply = service.respond(practitioner_id=PRACTITIONER, text="Lives near BS7 1AA now")
    assert [m.data["kinds"] for m in reply.messages if m.template == "identifiers_warned"] == [
        ["a postcode"]
    ]
    with new_session() as session:
        assert session.exec(select(Answer.value)).one() == "Lives near BS7 1AA now"


BASE = """\
agencies:
  - id: csc
    name: Children's Social Care
    identifiers:
{identifiers}
people:
  - slack_id: U0TESTPRAC
    agency: csc
    role: practitioner
"""


@pytest.mark.parametrize(
    ("identifiers", "line", "field"),
    [
        ("      mode: shout", 5, "agencies[0].identifiers.mode"),
        ("      detectors: [nhs_number, passport]", 5, "agencies[0].identifiers.detectors"),
        ("      detectors: postcode", 5, "agencies[0].identifiers.detectors"),
        ("      mode: warn\n      colour: red", 6, "agencies[0].identifiers.colour"),
    ],
)
def test_the_organisation_file_refuses_bad_identifier_settings(
    identifiers: str, line: int, field: str
) -> None:
    with pytest.raises(OrganisationFileError) as refused:
        parse_organisation(BASE.format(identifiers=identifiers))
    assert [(p.line, p.field) for p in refused.value.problems] == [(line, field)]


def test_the_organisation_file_accepts_identifier_settings() -> None:
    agencies, _, _ = parse_organisation(
        BASE.format(identifiers="      mode: warn\n      detectors: [" + ", ".join(DETECTORS) + "]")
    )
    assert agencies[0].options["identifiers"]["mode"] == "warn"


def test_a_long_answer_is_screened_quickly() -> None:
    text = ("She said school was fine, 3 children, 14:30, CSC-1234. " * 400)[:19_999]
    screened = guard.screen(text + " 943 476 5919", options=DEFAULTS)
    assert screened.withheld == ("an NHS number",)
