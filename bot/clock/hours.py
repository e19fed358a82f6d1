"""WorkingHours moved to bot/working_hours.py, below every layer that reads it. The reflection
service still imports it from here; delete this module when it no longer does."""

from bot.working_hours import WorkingHours as WorkingHours
