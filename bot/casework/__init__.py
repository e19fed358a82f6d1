"""Casework: what is done with cases and completed reflections, whatever the front end.

Who may do each thing is asked of bot/access.py; every supervisor's free text goes through the
identifier guard (bot/protection/screening.py); every view, export, note and deletion is audited
(storage/audit.py); the queries are in storage/.

Requests from a person (closing a case, a supervisor's buttons, notes and decisions, answers
shown, lead contact, history, the home screen) run in the caller's transaction and return plain
results: what to tell whoever asked (a `Said`), and Notices for the front end to record in that same
transaction. The administrator's work at the terminal (history, export, erasure) opens its own
transactions and raises NotPermitted for anyone else.
"""

from bot.casework.cases import CaseLine, History, case_history, close_case, open_cases
from bot.casework.erasure import ErasureReport, erase_case, erase_person
from bot.casework.home import Home, home
from bot.casework.records import CaseExport, administrator_history, export_case
from bot.casework.results import NOT_AN_ID, CaseworkResult, Notice, NotPermitted, valid_case_ref
from bot.casework.supervision import (
    ACTIONS,
    acknowledge,
    add_note,
    confirm_lead_contact,
    may_write_to_practitioner,
    promise_call,
    record_decision,
    refuse,
    show_answers,
    view_summary,
)

__all__ = [
    "ACTIONS",
    "NOT_AN_ID",
    "CaseExport",
    "CaseLine",
    "CaseworkResult",
    "ErasureReport",
    "History",
    "Home",
    "NotPermitted",
    "Notice",
    "acknowledge",
    "add_note",
    "administrator_history",
    "case_history",
    "close_case",
    "confirm_lead_contact",
    "erase_case",
    "erase_person",
    "export_case",
    "home",
    "may_write_to_practitioner",
    "open_cases",
    "promise_call",
    "record_decision",
    "refuse",
    "show_answers",
    "valid_case_ref",
    "view_summary",
]
