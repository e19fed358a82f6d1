"""The one front-end-free path for what a person asks (bot/requests/desk.py)."""

from bot.requests.casework import Written
from bot.requests.conversation import Started, record_id
from bot.requests.desk import Requests

__all__ = ["Requests", "Started", "Written", "record_id"]
